// Package chromium drives a headless Chromium for the tests through the
// DevTools protocol, spoken over a pipe (--remote-debugging-pipe: commands
// on the browser's fd 3, answers and events on its fd 4, each message a
// JSON object ended by a NUL byte), so no port is opened and no client
// library is needed. A Browser holds one page; its methods navigate,
// evaluate JavaScript, click at a point with real mouse events and take
// screenshots. Console messages and uncaught exceptions of the page are
// kept for failure messages (Log).
package chromium

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrNotInstalled is returned by Find when no Chromium is on the PATH.
var ErrNotInstalled = errors.New("chromium: not installed (run make setup-test)")

// Find returns the path of the Chromium binary on the PATH (chromium,
// chromium-browser or google-chrome), or ErrNotInstalled.
func Find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Options are how Start launches the browser.
type Options struct {
	Bin    string // the Chromium binary; "" for Find's
	Dir    string // a folder for the profile and HOME (required; a test's t.TempDir())
	Width  int    // window width in CSS pixels; 0 for 1280
	Height int    // window height in CSS pixels; 0 for 900
}

// Browser is a running headless Chromium with one page attached. Its
// methods may be called from one goroutine at a time; Close ends it.
type Browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser // the browser's fd 3
	session string         // the page's flat session id

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	log     []string
	readErr error         // why the reader stopped; set before done closes
	done    chan struct{} // closed when the reader stops (the browser's fd 4 closed)
	stderr  *tailBuffer
}

// reply is one answer of the browser to a command.
type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

// Start launches Chromium headless and attaches to a blank page. The
// browser runs until Close or until ctx is done.
func Start(ctx context.Context, opt Options) (*Browser, error) {
	if opt.Dir == "" {
		return nil, errors.New("chromium: Options.Dir is required")
	}
	bin := opt.Bin
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	w, h := opt.Width, opt.Height
	if w == 0 {
		w = 1280
	}
	if h == 0 {
		h = 900
	}
	// Commands go browser-ward on cmdR (its fd 3), answers come back on outW (its fd 4).
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("chromium: pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		return nil, fmt.Errorf("chromium: pipe: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-extensions", "--disable-sync", "--no-first-run",
		"--no-default-browser-check", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe",
		fmt.Sprintf("--window-size=%d,%d", w, h), "--user-data-dir="+filepath.Join(opt.Dir, "profile"), "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+opt.Dir)
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	cmd.WaitDelay = 2 * time.Second // a helper process that keeps stderr open does not hold Wait up
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cmdR.Close()
		cmdW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("chromium: start %s: %w", bin, err)
	}
	cmdR.Close() // the child's copies stay open
	outW.Close()
	b := &Browser{cmd: cmd, w: cmdW, pending: map[int64]chan reply{}, done: make(chan struct{}), stderr: stderr}
	go b.read(outR)

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.Close()
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		b.Close()
		return nil, err
	}
	b.session = attached.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if err := b.call(ctx, b.session, m, nil, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	if err := b.call(ctx, b.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// read delivers the browser's answers to their callers and keeps the page's
// console messages and exceptions, until the browser closes its end.
func (b *Browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	var err error
	for {
		var msg []byte
		msg, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m struct {
			ID     int64           `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			reply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.reply
			}
			continue
		}
		if line := eventLine(m.Method, m.Params); line != "" {
			b.mu.Lock()
			b.log = append(b.log, line)
			b.mu.Unlock()
		}
	}
	b.mu.Lock()
	b.readErr = fmt.Errorf("chromium: the browser closed its pipe (%v); its stderr ends:\n%s", err, b.stderr.String())
	b.mu.Unlock()
	close(b.done)
}

// eventLine renders the events worth keeping: console output and uncaught
// exceptions of the page.
func eventLine(method string, params json.RawMessage) string {
	switch method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		return "console." + p.Type + ": " + strings.Join(parts, " ")
	case "Runtime.exceptionThrown":
		var p struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(params, &p)
		return "exception: " + p.Details.Text + " " + p.Details.Exception.Description
	}
	return ""
}

// call sends one command (to the page's session, or to the browser when
// session is "") and decodes its result into out (when not nil).
func (b *Browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("chromium: %s: %w", method, err)
	}
	b.writeMu.Lock()
	_, err = b.w.Write(append(data, 0))
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("chromium: %s: write: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("chromium: %s: %s %s (code %d)", method, r.Error.Message, r.Error.Data, r.Error.Code)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				return fmt.Errorf("chromium: %s: decode result: %w", method, err)
			}
		}
		return nil
	case <-b.done:
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, b.readErr)
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("chromium: %s: %w", method, ctx.Err())
	}
}

// Navigate loads url in the page and waits for its load event.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, b.session, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("chromium: navigate to %s: %s", url, res.ErrorText)
	}
	return b.Wait(ctx, `document.readyState === "complete"`, 30*time.Second)
}

// Eval evaluates a JavaScript expression in the page, awaiting it when it
// is a promise, and decodes its JSON value into out (when not nil). A
// thrown exception is an error carrying its description.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, b.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("chromium: evaluate %q: %s %s", short(expr), e.Text, e.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			return fmt.Errorf("chromium: evaluate %q: decode %s: %w", short(expr), res.Result.Value, err)
		}
	}
	return nil
}

// Wait evaluates cond every 50 ms until it is truthy, for at most timeout.
func (b *Browser) Wait(ctx context.Context, cond string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := b.Eval(ctx, "!!("+cond+")", &ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chromium: %q still false after %v", short(cond), timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chromium: wait for %q: %w", short(cond), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Click presses and releases the left mouse button at (x, y), in CSS
// pixels of the page's viewport: the trusted events a person's click makes,
// delivered to whatever is drawn on top at that point.
func (b *Browser) Click(ctx context.Context, x, y float64) error {
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": x, "y": y}
		if typ != "mouseMoved" {
			p["button"], p["clickCount"] = "left", 1
		}
		if err := b.call(ctx, b.session, "Input.dispatchMouseEvent", p, nil); err != nil {
			return err
		}
	}
	return nil
}

// Screenshot returns a PNG of the page's viewport.
func (b *Browser) Screenshot(ctx context.Context) ([]byte, error) {
	var res struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return nil, fmt.Errorf("chromium: screenshot: %w", err)
	}
	return png, nil
}

// Log returns the page's console messages and uncaught exceptions so far,
// one a line, and forgets them.
func (b *Browser) Log() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.log
	b.log = nil
	return l
}

// Close asks the browser to quit, waits up to 5 s for it, kills it
// otherwise, and releases the pipes.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.call(ctx, "", "Browser.close", nil, nil) // the browser may exit before it answers
	b.w.Close()
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
		return nil // its exit status after Browser.close says nothing useful
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-exited
		return errors.New("chromium: the browser did not quit within 5 s of Browser.close; killed")
	}
}

// short cuts a long expression for messages.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// tailBuffer keeps the last max bytes written to it (the browser's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// Write keeps p's tail.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// String returns what is kept.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
