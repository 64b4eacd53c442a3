package selector

import "math"

// lbfgsMinimize minimises f from x0 with limited-memory BFGS (history 10)
// and a backtracking Armijo line search, for at most maxIter iterations or
// until the gradient's infinity norm drops below gtol. fg returns f(x) and,
// when grad is non-nil, writes the gradient into it. It is serial and so
// deterministic. x0 is not modified.
func lbfgsMinimize(fg func(x, grad []float64) float64, x0 []float64, maxIter int, gtol float64) []float64 {
	const hist = 10
	n := len(x0)
	x := append([]float64(nil), x0...)
	g := make([]float64, n)
	f := fg(x, g)
	var sHist, yHist [][]float64
	var rhoHist []float64
	dir := make([]float64, n)
	xNew := make([]float64, n)
	gNew := make([]float64, n)
	alpha := make([]float64, hist)
	for it := 0; it < maxIter; it++ {
		if infNorm(g) < gtol {
			break
		}
		// Two-loop recursion: dir = -H g.
		for i := range dir {
			dir[i] = -g[i]
		}
		k := len(sHist)
		for i := k - 1; i >= 0; i-- {
			alpha[i] = rhoHist[i] * dotF64(sHist[i], dir)
			axpyF64(-alpha[i], yHist[i], dir)
		}
		if k > 0 {
			gammaK := dotF64(sHist[k-1], yHist[k-1]) / dotF64(yHist[k-1], yHist[k-1])
			for i := range dir {
				dir[i] *= gammaK
			}
		} else if gn := math.Sqrt(dotF64(g, g)); gn > 0 {
			for i := range dir {
				dir[i] /= gn
			}
		}
		for i := 0; i < k; i++ {
			b := rhoHist[i] * dotF64(yHist[i], dir)
			axpyF64(alpha[i]-b, sHist[i], dir)
		}
		slope := dotF64(g, dir)
		if slope >= 0 { // not a descent direction: restart from steepest descent
			sHist, yHist, rhoHist = nil, nil, nil
			for i := range dir {
				dir[i] = -g[i]
			}
			slope = dotF64(g, dir)
		}
		step := 1.0
		var fNew float64
		ok := false
		for ls := 0; ls < 40; ls++ {
			for i := range x {
				xNew[i] = x[i] + step*dir[i]
			}
			fNew = fg(xNew, gNew)
			if fNew <= f+1e-4*step*slope {
				ok = true
				break
			}
			step *= 0.5
		}
		if !ok {
			break
		}
		s := make([]float64, n)
		yv := make([]float64, n)
		for i := range s {
			s[i] = xNew[i] - x[i]
			yv[i] = gNew[i] - g[i]
		}
		sy := dotF64(s, yv)
		copy(x, xNew)
		copy(g, gNew)
		fPrev := f
		f = fNew
		if sy > 1e-12 {
			if len(sHist) == hist {
				sHist, yHist, rhoHist = sHist[1:], yHist[1:], rhoHist[1:]
			}
			sHist = append(sHist, s)
			yHist = append(yHist, yv)
			rhoHist = append(rhoHist, 1/sy)
		}
		if math.Abs(fPrev-f) <= 1e-12*max(1, math.Abs(f)) {
			break
		}
	}
	return x
}

func dotF64(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyF64(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

func infNorm(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}
