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
	biasInBN         bool     // set by plan: the BatchNorm after it adds the bias
	evalBN           *bnOp[T] // set by plan: in eval mode it applies this BatchNorm (depthwise)
	col, dcol        []T      // im2col buffers of the general kind
	dw               *dwPlan  // tap tables of the depthwise kind
	fOffs, bOffs     []int    // the depthwise tables' offsets scaled by the batch
	wPairs           []int
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
		c.dw = newDWPlan(c.h, c.w, c.ho, c.wo, c.kh, c.kw, c.sh, c.sw, pads)
	default:
		c.kind = convGeneral
	}
	return c, []int{c.cout, c.ho, c.wo}, nil
}

func (c *convOp[T]) label() string { return c.name }
func (c *convOp[T]) output() int   { return c.out }

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
	d.col, d.dcol, d.fOffs, d.bOffs, d.wPairs = nil, nil, nil, nil, nil
	return &d
}

func (c *convOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[c.in], g.vals[c.out], g.n
	np := n * c.ho * c.wo
	if c.kind == convDepthwise {
		var bn *bnOp[T]
		if !g.train && c.evalBN != nil {
			bn = c.evalBN
			y = g.vals[bn.output()]
		}
		c.depthwiseForward(x, y, n, g.workers, bn)
		return
	}
	// The bias goes in first and the products are added to it: the
	// product engine adds each finished dot product to C, so every
	// output is still fl(dot + bias), as with a separate pass.
	acc := c.bias != nil && !c.biasInBN
	if acc {
		parallelFor(g.workers, c.cout, func(ch int) {
			fill(y[ch*np:(ch+1)*np], c.bias.value[ch])
		})
	}
	switch c.kind {
	case convPointwise:
		gemm(false, false, c.cout, np, c.cin, c.weight.value, c.cin, x, np, y, np, acc, g.workers)
	case convGeneral:
		k := c.cin / c.group * c.kh * c.kw
		c.im2col(x, n, g.workers)
		cog := c.cout / c.group
		for gi := range c.group {
			gemm(false, false, cog, np, k, c.weight.value[gi*cog*k:], k, c.col[gi*k*np:], np, y[gi*cog*np:], np, acc, g.workers)
		}
	}
}

func (c *convOp[T]) backward(g *graph[T]) {
	x, dy, n := g.vals[c.in], g.grads[c.out], g.n
	var dx []T
	set := false // dx holds garbage: set it rather than add to it
	if g.slots[c.in].grad {
		dx = g.grads[c.in]
		set = g.claim(c.in)
	}
	np := n * c.ho * c.wo
	if c.kind == convDepthwise {
		c.depthwiseBackward(x, dy, dx, n, g.workers, set)
		return
	}
	if c.bias != nil {
		parallelFor(g.workers, c.cout, func(ch int) {
			c.bias.grad[ch] += sum(dy[ch*np : (ch+1)*np])
		})
	}
	switch c.kind {
	case convPointwise:
		gemm(false, true, c.cout, c.cin, np, dy, np, x, np, c.weight.grad, c.cin, true, g.workers)
		if dx != nil {
			gemm(true, false, c.cin, np, c.cout, c.weight.value, c.cin, dy, np, dx, np, !set, g.workers)
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
			c.col2im(dx, n, g.workers, set)
		}
	}
}

// fill sets every element of s to v, doubling copies.
func fill[T float](s []T, v T) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i])
	}
}

// im2col fills c.col: for each group, rows (input channel of the group,
// ky, kx) and columns (oy, ox, sample) of the zero-padded input. A column
// block of n samples is one contiguous copy.
func (c *convOp[T]) im2col(x []T, n, workers int) {
	np := n * c.ho * c.wo
	rows := c.cin * c.kh * c.kw
	hw := c.h * c.w
	c.col = resize(c.col, rows*np)
	// Row r = (ci·kh + ky)·kw + kx over all input channels ci; since the
	// channels of a group are contiguous, group gi's rows start at
	// gi·(cin/group)·kh·kw, as the product expects.
	parallelFor(workers, c.cin, func(ci int) {
		xc := x[ci*hw*n : (ci+1)*hw*n]
		for ky := range c.kh {
			for kx := range c.kw {
				r := (ci*c.kh+ky)*c.kw + kx
				dst := c.col[r*np : (r+1)*np]
				for oy := range c.ho {
					iy := oy*c.sh - c.pads[0] + ky
					for ox := range c.wo {
						ix := ox*c.sw - c.pads[1] + kx
						d := dst[(oy*c.wo+ox)*n : (oy*c.wo+ox+1)*n]
						if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w {
							clear(d)
						} else {
							copy(d, xc[(iy*c.w+ix)*n:])
						}
					}
				}
			}
		}
	})
}

// col2im adds c.dcol, laid out as c.col, back into the input gradient dx
// (set: clear it first). One task per input channel adds its rows in a
// fixed order.
func (c *convOp[T]) col2im(dx []T, n, workers int, set bool) {
	np := n * c.ho * c.wo
	hw := c.h * c.w
	parallelFor(workers, c.cin, func(ci int) {
		dc := dx[ci*hw*n : (ci+1)*hw*n]
		if set {
			clear(dc)
		}
		for ky := range c.kh {
			for kx := range c.kw {
				r := (ci*c.kh+ky)*c.kw + kx
				src := c.dcol[r*np : (r+1)*np]
				for oy := range c.ho {
					iy := oy*c.sh - c.pads[0] + ky
					if iy < 0 || iy >= c.h {
						continue
					}
					for ox := range c.wo {
						ix := ox*c.sw - c.pads[1] + kx
						if ix < 0 || ix >= c.w {
							continue
						}
						d := dc[(iy*c.w+ix)*n : (iy*c.w+ix+1)*n]
						for s, v := range src[(oy*c.wo+ox)*n : (oy*c.wo+ox+1)*n] {
							d[s] += v
						}
					}
				}
			}
		}
	})
}

// dwPlan lists, for a depthwise convolution, which input positions and
// kernel taps meet at each output position, leaving out the taps that
// fall on padding (their products are zeros). Positions are y·width + x
// within one channel's plane; a position's values are the n samples of
// the batch, side by side, so every entry stands for a vector operation
// over the batch.
type dwPlan struct {
	// Forward: output position o sums taps fIn/fTap[fStart[o]:fStart[o+1]]
	// (input position, tap), in kernel order (ky, kx).
	fStart, fIn, fTap []int
	// Input gradient: input position i sums bOut/bTap[bStart[i]:bStart[i+1]]
	// (output position, tap), by output position, then tap.
	bStart, bOut, bTap []int
	// Kernel gradient: tap t sums the products of the output gradient at
	// wOut and the input at wIn over [wStart[t], wStart[t+1]), by output
	// position.
	wStart, wOut, wIn []int
}

func newDWPlan(h, w, ho, wo, kh, kw, sh, sw int, pads [4]int) *dwPlan {
	d := &dwPlan{}
	type tap struct{ o, i, t int }
	byIn := make([][]tap, h*w)
	byTap := make([][]tap, kh*kw)
	for oy := range ho {
		for ox := range wo {
			o := oy*wo + ox
			d.fStart = append(d.fStart, len(d.fIn))
			for ky := range kh {
				for kx := range kw {
					iy, ix := oy*sh-pads[0]+ky, ox*sw-pads[1]+kx
					if iy < 0 || iy >= h || ix < 0 || ix >= w {
						continue
					}
					tp := tap{o, iy*w + ix, ky*kw + kx}
					d.fIn = append(d.fIn, tp.i)
					d.fTap = append(d.fTap, tp.t)
					byIn[tp.i] = append(byIn[tp.i], tp)
					byTap[tp.t] = append(byTap[tp.t], tp)
				}
			}
		}
	}
	d.fStart = append(d.fStart, len(d.fIn))
	for _, ts := range byIn {
		d.bStart = append(d.bStart, len(d.bOut))
		for _, tp := range ts {
			d.bOut = append(d.bOut, tp.o)
			d.bTap = append(d.bTap, tp.t)
		}
	}
	d.bStart = append(d.bStart, len(d.bOut))
	for _, ts := range byTap {
		d.wStart = append(d.wStart, len(d.wOut))
		for _, tp := range ts {
			d.wOut = append(d.wOut, tp.o)
			d.wIn = append(d.wIn, tp.i)
		}
	}
	d.wStart = append(d.wStart, len(d.wOut))
	return d
}

// scaled returns pos scaled by n (positions to offsets in a plane), in
// buf's memory.
func scaled(buf, pos []int, n int) []int {
	buf = buf[:0]
	for _, p := range pos {
		buf = append(buf, p*n)
	}
	return buf
}

// depthwiseChunk is the number of channels one depthwise task handles.
const depthwiseChunk = 8

// depthwiseForward computes one output channel per input channel: each
// output is the sum of its kernel taps that fall inside the input, in
// (ky, kx) order, plus the bias (the taps on padding would add zeros).
// With bn (eval mode) it applies that BatchNorm, and its Clip if fused,
// to each output before it stores it, as the BatchNorm would.
func (c *convOp[T]) depthwiseForward(x, y []T, n, workers int, bn *bnOp[T]) {
	d := c.dw
	kk := c.kh * c.kw
	hw, howo := c.h*c.w, c.ho*c.wo
	c.fOffs = scaled(c.fOffs, d.fIn, n)
	offs, maxOff := c.fOffs, (hw-1)*n
	chunks := (c.cout + depthwiseChunk - 1) / depthwiseChunk
	parallelFor(workers, chunks, func(k int) {
		ws := make([]T, len(d.fTap))
		for ch := k * depthwiseChunk; ch < min((k+1)*depthwiseChunk, c.cout); ch++ {
			wc := c.weight.value[ch*kk : (ch+1)*kk]
			for j, t := range d.fTap {
				ws[j] = wc[t]
			}
			var b T
			if c.bias != nil {
				b = c.bias.value[ch]
			}
			var ep *[4]T
			if bn != nil {
				sa, sb := bn.evalAffine(ch)
				lo, hi := bn.bounds()
				ep = &[4]T{sa, sb, lo, hi}
			}
			dwPlane(y[ch*howo*n:(ch+1)*howo*n], x[ch*hw*n:(ch+1)*hw*n], n, d.fStart, offs, ws, maxOff, b, false, ep)
		}
	})
}

// depthwiseBackward adds the kernel and bias gradients and, when dx is not
// nil, the input gradient (set: sets it). Each kernel tap's gradient is
// one sum over its output positions and the samples, in lanes; each
// input position's gradient one sum over the taps that read it.
func (c *convOp[T]) depthwiseBackward(x, dy, dx []T, n, workers int, set bool) {
	d := c.dw
	kk := c.kh * c.kw
	hw, howo := c.h*c.w, c.ho*c.wo
	c.bOffs = scaled(c.bOffs, d.bOut, n)
	c.wPairs = c.wPairs[:0]
	for j, o := range d.wOut {
		c.wPairs = append(c.wPairs, o*n, d.wIn[j]*n)
	}
	boffs, pairs := c.bOffs, c.wPairs
	chunks := (c.cout + depthwiseChunk - 1) / depthwiseChunk
	parallelFor(workers, chunks, func(k int) {
		ws := make([]T, len(d.bTap))
		acc := make([]T, kk*sumLanes)
		for ch := k * depthwiseChunk; ch < min((k+1)*depthwiseChunk, c.cout); ch++ {
			xc := x[ch*hw*n : (ch+1)*hw*n]
			gc := dy[ch*howo*n : (ch+1)*howo*n]
			clear(acc)
			dwGrads(acc, gc, xc, n, d.wStart, pairs, (howo-1)*n, (hw-1)*n)
			for t := range kk {
				c.weight.grad[ch*kk+t] += reduce((*[sumLanes]T)(acc[t*sumLanes:]))
			}
			if c.bias != nil {
				c.bias.grad[ch] += sum(gc)
			}
			if dx == nil {
				continue
			}
			wc := c.weight.value[ch*kk : (ch+1)*kk]
			for j, t := range d.bTap {
				ws[j] = wc[t]
			}
			dwPlane(dx[ch*hw*n:(ch+1)*hw*n], gc, n, d.bStart, boffs, ws, (howo-1)*n, 0, !set, nil)
		}
	})
}
