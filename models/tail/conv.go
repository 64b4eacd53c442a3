package tail

import "fmt"

type convKind int

const (
	convPointwise convKind = iota // 1×1, stride 1, no pads, one group: one product over the batch
	convDepthwise                 // one input and one output channel per group: direct loops
	convGeneral                   // im2col per group, then a product
)

// convOp is a 2-D convolution (ONNX Conv) with optional bias.
type convOp[T float] struct {
	name             string
	in, out          int
	cin, cout, group int
	kh, kw, sh, sw   int
	pads             [4]int // top, left, bottom, right
	h, w, ho, wo     int
	weight, bias     *param[T] // weight [cout, cin/group, kh, kw]; bias [cout] or nil
	kind             convKind
	col, dcol        []T // im2col buffers of the general kind
}

func newConv[T float](name string, in, out int, inDims []int, weight, bias *param[T], kernel, strides [2]int, pads [4]int, group int) (*convOp[T], []int, error) {
	if len(inDims) != 3 {
		return nil, nil, fmt.Errorf("tail: conv %q: input of per-sample shape %v, want (C, H, W)", name, inDims)
	}
	c := &convOp[T]{
		name: name, in: in, out: out, cin: inDims[0], cout: weight.shape[0], group: group,
		kh: kernel[0], kw: kernel[1], sh: strides[0], sw: strides[1], pads: pads,
		h: inDims[1], w: inDims[2], weight: weight, bias: bias,
	}
	if weight.shape[1]*group != c.cin || c.cout%group != 0 {
		return nil, nil, fmt.Errorf("tail: conv %q: weight %v with %d groups does not fit %d input channels", name, weight.shape, group, c.cin)
	}
	c.ho = (c.h+pads[0]+pads[2]-c.kh)/c.sh + 1
	c.wo = (c.w+pads[1]+pads[3]-c.kw)/c.sw + 1
	if c.ho < 1 || c.wo < 1 || c.h+pads[0]+pads[2] < c.kh || c.w+pads[1]+pads[3] < c.kw {
		return nil, nil, fmt.Errorf("tail: conv %q: kernel %dx%d larger than padded input %dx%d", name, c.kh, c.kw, c.h, c.w)
	}
	switch {
	case c.kh == 1 && c.kw == 1 && c.sh == 1 && c.sw == 1 && pads == [4]int{} && group == 1:
		c.kind = convPointwise
	case group == c.cin && group == c.cout:
		c.kind = convDepthwise
	default:
		c.kind = convGeneral
	}
	return c, []int{c.cout, c.ho, c.wo}, nil
}

func (c *convOp[T]) label() string { return c.name }

func (c *convOp[T]) params() []*param[T] {
	if c.bias == nil {
		return []*param[T]{c.weight}
	}
	return []*param[T]{c.weight, c.bias}
}

func (c *convOp[T]) buffers() []*buffer[T] { return nil }

func (c *convOp[T]) clone(ps map[*param[T]]*param[T]) op[T] {
	d := *c
	d.weight = ps[c.weight]
	if c.bias != nil {
		d.bias = ps[c.bias]
	}
	d.col, d.dcol = nil, nil
	return &d
}

func (c *convOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[c.in], g.vals[c.out], g.n
	np := n * c.ho * c.wo
	switch c.kind {
	case convPointwise:
		gemm(false, false, c.cout, np, c.cin, c.weight.value, c.cin, x, np, y, np, false, g.workers)
	case convDepthwise:
		c.depthwiseForward(x, y, n, g.workers)
	case convGeneral:
		k := c.cin / c.group * c.kh * c.kw
		c.im2col(x, n, g.workers)
		cog := c.cout / c.group
		for gi := range c.group {
			gemm(false, false, cog, np, k, c.weight.value[gi*cog*k:], k, c.col[gi*k*np:], np, y[gi*cog*np:], np, false, g.workers)
		}
	}
	if c.bias != nil && c.kind != convDepthwise {
		parallelFor(g.workers, c.cout, func(ch int) {
			b := c.bias.value[ch]
			row := y[ch*np : (ch+1)*np]
			for i := range row {
				row[i] += b
			}
		})
	}
}

func (c *convOp[T]) backward(g *graph[T]) {
	x, dy, n := g.vals[c.in], g.grads[c.out], g.n
	var dx []T
	if g.slots[c.in].grad {
		dx = g.grads[c.in]
	}
	np := n * c.ho * c.wo
	if c.kind == convDepthwise {
		c.depthwiseBackward(x, dy, dx, n, g.workers)
		return
	}
	if c.bias != nil {
		parallelFor(g.workers, c.cout, func(ch int) {
			var s T
			for _, v := range dy[ch*np : (ch+1)*np] {
				s += v
			}
			c.bias.grad[ch] += s
		})
	}
	switch c.kind {
	case convPointwise:
		gemm(false, true, c.cout, c.cin, np, dy, np, x, np, c.weight.grad, c.cin, true, g.workers)
		if dx != nil {
			gemm(true, false, c.cin, np, c.cout, c.weight.value, c.cin, dy, np, dx, np, true, g.workers)
		}
	case convGeneral:
		k := c.cin / c.group * c.kh * c.kw
		cog := c.cout / c.group
		for gi := range c.group {
			gemm(false, true, cog, k, np, dy[gi*cog*np:], np, c.col[gi*k*np:], np, c.weight.grad[gi*cog*k:], k, true, g.workers)
		}
		if dx != nil {
			c.dcol = resize(c.dcol, len(c.col))
			for gi := range c.group {
				gemm(true, false, k, np, cog, c.weight.value[gi*cog*k:], k, dy[gi*cog*np:], np, c.dcol[gi*k*np:], np, false, g.workers)
			}
			c.col2im(dx, n, g.workers)
		}
	}
}

// im2col fills c.col: for each group, rows (input channel of the group,
// ky, kx) and columns (sample, oy, ox) of the padded input.
func (c *convOp[T]) im2col(x []T, n, workers int) {
	np := n * c.ho * c.wo
	rows := c.cin * c.kh * c.kw
	c.col = resize(c.col, rows*np)
	// Row r = (ci·kh + ky)·kw + kx over all input channels ci; since the
	// channels of a group are contiguous, group gi's rows start at
	// gi·(cin/group)·kh·kw, as the product expects.
	parallelFor(workers, c.cin, func(ci int) {
		for ky := range c.kh {
			for kx := range c.kw {
				r := (ci*c.kh+ky)*c.kw + kx
				dst := c.col[r*np : (r+1)*np]
				for s := range n {
					src := x[(ci*n+s)*c.h*c.w:]
					for oy := range c.ho {
						iy := oy*c.sh - c.pads[0] + ky
						d := dst[(s*c.ho+oy)*c.wo : (s*c.ho+oy+1)*c.wo]
						if iy < 0 || iy >= c.h {
							clear(d)
							continue
						}
						for ox := range c.wo {
							ix := ox*c.sw - c.pads[1] + kx
							if ix < 0 || ix >= c.w {
								d[ox] = 0
							} else {
								d[ox] = src[iy*c.w+ix]
							}
						}
					}
				}
			}
		}
	})
}

// col2im adds c.dcol, laid out as c.col, back into the input gradient dx.
// One task per input channel adds its rows in a fixed order.
func (c *convOp[T]) col2im(dx []T, n, workers int) {
	np := n * c.ho * c.wo
	parallelFor(workers, c.cin, func(ci int) {
		for ky := range c.kh {
			for kx := range c.kw {
				r := (ci*c.kh+ky)*c.kw + kx
				src := c.dcol[r*np : (r+1)*np]
				for s := range n {
					dst := dx[(ci*n+s)*c.h*c.w:]
					for oy := range c.ho {
						iy := oy*c.sh - c.pads[0] + ky
						if iy < 0 || iy >= c.h {
							continue
						}
						row := src[(s*c.ho+oy)*c.wo:]
						for ox := range c.wo {
							ix := ox*c.sw - c.pads[1] + kx
							if ix >= 0 && ix < c.w {
								dst[iy*c.w+ix] += row[ox]
							}
						}
					}
				}
			}
		}
	})
}

func (c *convOp[T]) depthwiseForward(x, y []T, n, workers int) {
	kk := c.kh * c.kw
	hw, howo := c.h*c.w, c.ho*c.wo
	parallelFor(workers, c.cout, func(ch int) {
		wc := c.weight.value[ch*kk : (ch+1)*kk]
		var b T
		if c.bias != nil {
			b = c.bias.value[ch]
		}
		for s := range n {
			xp := x[(ch*n+s)*hw : (ch*n+s+1)*hw]
			yp := y[(ch*n+s)*howo : (ch*n+s+1)*howo]
			for oy := range c.ho {
				for ox := range c.wo {
					var acc T
					for ky := range c.kh {
						iy := oy*c.sh - c.pads[0] + ky
						if iy < 0 || iy >= c.h {
							continue
						}
						for kx := range c.kw {
							ix := ox*c.sw - c.pads[1] + kx
							if ix >= 0 && ix < c.w {
								acc += wc[ky*c.kw+kx] * xp[iy*c.w+ix]
							}
						}
					}
					yp[oy*c.wo+ox] = acc + b
				}
			}
		}
	})
}

func (c *convOp[T]) depthwiseBackward(x, dy, dx []T, n, workers int) {
	kk := c.kh * c.kw
	hw, howo := c.h*c.w, c.ho*c.wo
	parallelFor(workers, c.cout, func(ch int) {
		wc := c.weight.value[ch*kk : (ch+1)*kk]
		dw := make([]T, kk)
		var db T
		for s := range n {
			xp := x[(ch*n+s)*hw : (ch*n+s+1)*hw]
			gp := dy[(ch*n+s)*howo : (ch*n+s+1)*howo]
			var dxp []T
			if dx != nil {
				dxp = dx[(ch*n+s)*hw : (ch*n+s+1)*hw]
			}
			for oy := range c.ho {
				for ox := range c.wo {
					gv := gp[oy*c.wo+ox]
					db += gv
					for ky := range c.kh {
						iy := oy*c.sh - c.pads[0] + ky
						if iy < 0 || iy >= c.h {
							continue
						}
						for kx := range c.kw {
							ix := ox*c.sw - c.pads[1] + kx
							if ix >= 0 && ix < c.w {
								dw[ky*c.kw+kx] += gv * xp[iy*c.w+ix]
								if dxp != nil {
									dxp[iy*c.w+ix] += gv * wc[ky*c.kw+kx]
								}
							}
						}
					}
				}
			}
		}
		for t, v := range dw {
			c.weight.grad[ch*kk+t] += v
		}
		if c.bias != nil {
			c.bias.grad[ch] += db
		}
	})
}
