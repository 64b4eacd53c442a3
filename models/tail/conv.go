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

// depthwiseChunk is the number of channels one depthwise task handles
// with one padded scratch plane set.
const depthwiseChunk = 8

// pad copies channel ch of x (n planes of h×w) into dst, n planes of
// (h+top+bottom)×(w+left+right) with zero borders.
func (c *convOp[T]) pad(dst, x []T, ch, n int) []T {
	hp, wp := c.h+c.pads[0]+c.pads[2], c.w+c.pads[1]+c.pads[3]
	dst = resize(dst, n*hp*wp)
	hw := c.h * c.w
	for s := range n {
		plane := dst[s*hp*wp : (s+1)*hp*wp]
		clear(plane[:c.pads[0]*wp])
		clear(plane[(c.pads[0]+c.h)*wp:])
		src := x[(ch*n+s)*hw : (ch*n+s+1)*hw]
		for iy := range c.h {
			row := plane[(iy+c.pads[0])*wp : (iy+c.pads[0]+1)*wp]
			clear(row[:c.pads[1]])
			copy(row[c.pads[1]:], src[iy*c.w:(iy+1)*c.w])
			clear(row[c.pads[1]+c.w:])
		}
	}
	return dst
}

// depthwiseForward computes one output channel per input channel from a
// zero-padded copy of the channel, so the inner loops have no bounds
// tests. Each output is the sum over the kernel taps in (ky, kx) order,
// then the bias.
func (c *convOp[T]) depthwiseForward(x, y []T, n, workers int) {
	kk := c.kh * c.kw
	hp, wp := c.h+c.pads[0]+c.pads[2], c.w+c.pads[1]+c.pads[3]
	howo := c.ho * c.wo
	chunks := (c.cout + depthwiseChunk - 1) / depthwiseChunk
	parallelFor(workers, chunks, func(k int) {
		var xp []T
		for ch := k * depthwiseChunk; ch < min((k+1)*depthwiseChunk, c.cout); ch++ {
			xp = c.pad(xp, x, ch, n)
			wc := c.weight.value[ch*kk : (ch+1)*kk]
			var b T
			if c.bias != nil {
				b = c.bias.value[ch]
			}
			yc := y[ch*n*howo : (ch+1)*n*howo]
			if c.kh == 3 && c.kw == 3 {
				w0, w1, w2, w3, w4, w5, w6, w7, w8 := wc[0], wc[1], wc[2], wc[3], wc[4], wc[5], wc[6], wc[7], wc[8]
				for s := range n {
					for oy := range c.ho {
						r0 := (s*hp + oy*c.sh) * wp
						r1, r2 := r0+wp, r0+2*wp
						out := yc[(s*c.ho+oy)*c.wo : (s*c.ho+oy+1)*c.wo]
						for ox := range out {
							i := ox * c.sw
							a, b0, c0 := xp[r0+i:r0+i+3], xp[r1+i:r1+i+3], xp[r2+i:r2+i+3]
							acc := w0 * a[0]
							acc += w1 * a[1]
							acc += w2 * a[2]
							acc += w3 * b0[0]
							acc += w4 * b0[1]
							acc += w5 * b0[2]
							acc += w6 * c0[0]
							acc += w7 * c0[1]
							acc += w8 * c0[2]
							out[ox] = acc + b
						}
					}
				}
				continue
			}
			for s := range n {
				for oy := range c.ho {
					out := yc[(s*c.ho+oy)*c.wo : (s*c.ho+oy+1)*c.wo]
					for ox := range out {
						base := (s*hp+oy*c.sh)*wp + ox*c.sw
						var acc T
						for ky := range c.kh {
							row := xp[base+ky*wp : base+ky*wp+c.kw]
							for kx, v := range row {
								acc += wc[ky*c.kw+kx] * v
							}
						}
						out[ox] = acc + b
					}
				}
			}
		}
	})
}

// depthwiseBackward adds the kernel, bias and (when dx is not nil) input
// gradients. The kernel gradient of each tap is summed over samples and
// positions in order; the input gradient goes to a padded plane set whose
// interior is then added to dx.
func (c *convOp[T]) depthwiseBackward(x, dy, dx []T, n, workers int) {
	kk := c.kh * c.kw
	hp, wp := c.h+c.pads[0]+c.pads[2], c.w+c.pads[1]+c.pads[3]
	hw, howo := c.h*c.w, c.ho*c.wo
	chunks := (c.cout + depthwiseChunk - 1) / depthwiseChunk
	parallelFor(workers, chunks, func(k int) {
		var xp, dxp []T
		dw := make([]T, kk)
		for ch := k * depthwiseChunk; ch < min((k+1)*depthwiseChunk, c.cout); ch++ {
			xp = c.pad(xp, x, ch, n)
			if dx != nil {
				dxp = resize(dxp, len(xp))
				clear(dxp)
			}
			wc := c.weight.value[ch*kk : (ch+1)*kk]
			clear(dw)
			var db T
			gc := dy[ch*n*howo : (ch+1)*n*howo]
			if c.kh == 3 && c.kw == 3 {
				db = c.depthwiseBackward3x3(xp, dxp, wc, dw, gc, n, hp, wp)
			} else {
				db = c.depthwiseBackwardAny(xp, dxp, wc, dw, gc, n, hp, wp)
			}
			for t, v := range dw {
				c.weight.grad[ch*kk+t] += v
			}
			if c.bias != nil {
				c.bias.grad[ch] += db
			}
			if dx == nil {
				continue
			}
			for s := range n {
				dst := dx[(ch*n+s)*hw : (ch*n+s+1)*hw]
				for iy := range c.h {
					src := dxp[(s*hp+iy+c.pads[0])*wp+c.pads[1]:]
					d := dst[iy*c.w : (iy+1)*c.w]
					for ix := range d {
						d[ix] += src[ix]
					}
				}
			}
		}
	})
}

// depthwiseBackwardAny adds one channel's kernel gradient to dw and its
// padded input gradient to dxp (when not nil), and returns its bias
// gradient.
func (c *convOp[T]) depthwiseBackwardAny(xp, dxp, wc, dw, gc []T, n, hp, wp int) T {
	var db T
	for s := range n {
		for oy := range c.ho {
			g := gc[(s*c.ho+oy)*c.wo : (s*c.ho+oy+1)*c.wo]
			for ox, gv := range g {
				db += gv
				base := (s*hp+oy*c.sh)*wp + ox*c.sw
				for ky := range c.kh {
					r := base + ky*wp
					row := xp[r : r+c.kw]
					t := ky * c.kw
					for kx, v := range row {
						dw[t+kx] += gv * v
					}
					if dxp != nil {
						drow := dxp[r : r+c.kw]
						for kx := range drow {
							drow[kx] += gv * wc[t+kx]
						}
					}
				}
			}
		}
	}
	return db
}

// depthwiseBackward3x3 is depthwiseBackwardAny for 3×3 kernels, unrolled,
// with the same order of every sum.
func (c *convOp[T]) depthwiseBackward3x3(xp, dxp, wc, dw, gc []T, n, hp, wp int) T {
	var db T
	var d0, d1, d2, d3, d4, d5, d6, d7, d8 T
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := wc[0], wc[1], wc[2], wc[3], wc[4], wc[5], wc[6], wc[7], wc[8]
	for s := range n {
		for oy := range c.ho {
			g := gc[(s*c.ho+oy)*c.wo : (s*c.ho+oy+1)*c.wo]
			r0 := (s*hp + oy*c.sh) * wp
			r1, r2 := r0+wp, r0+2*wp
			for ox, gv := range g {
				db += gv
				i := ox * c.sw
				a, b, e := xp[r0+i:r0+i+3], xp[r1+i:r1+i+3], xp[r2+i:r2+i+3]
				d0 += gv * a[0]
				d1 += gv * a[1]
				d2 += gv * a[2]
				d3 += gv * b[0]
				d4 += gv * b[1]
				d5 += gv * b[2]
				d6 += gv * e[0]
				d7 += gv * e[1]
				d8 += gv * e[2]
				if dxp != nil {
					da, dbb, de := dxp[r0+i:r0+i+3], dxp[r1+i:r1+i+3], dxp[r2+i:r2+i+3]
					da[0] += gv * w0
					da[1] += gv * w1
					da[2] += gv * w2
					dbb[0] += gv * w3
					dbb[1] += gv * w4
					dbb[2] += gv * w5
					de[0] += gv * w6
					de[1] += gv * w7
					de[2] += gv * w8
				}
			}
		}
	}
	dw[0], dw[1], dw[2], dw[3], dw[4], dw[5], dw[6], dw[7], dw[8] = d0, d1, d2, d3, d4, d5, d6, d7, d8
	return db
}
