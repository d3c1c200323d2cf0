package main

// The console's end-to-end test: the real walhook binary on a real PostgreSQL, real
// httptest receivers, and the console driven in Debian's headless Chromium through the
// DevTools protocol (chromedp). Every script error, uncaught exception and console
// error of the page (CSP violations included) fails the test.
//
// WALHOOK_SCREENSHOTS=1 also writes the README's screenshots to docs/ (1280×800, and one
// at phone width, 390×844).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/walhook/walhook/internal/testwait"
)

// stepTimeout bounds each step of a console test.
const stepTimeout = 15 * time.Second

// chromiumPath is Debian's Chromium, which scripts/test.sh installs when missing.
const chromiumPath = "/usr/bin/chromium"

// pageErrors collects what the page reports as errors.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// newBrowser starts headless Chromium (flags that work as root in a container without a
// sandbox) with a viewport of width×height and returns a chromedp context whose page
// errors are collected; the browser is closed, and the errors checked, when the test
// ends. Network errors (an expected 404 of a route this version lacks) are not page
// errors; everything else logged at error level is.
func newBrowser(t *testing.T, width, height int) (context.Context, *pageErrors) {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("Chromium not found at %s (scripts/test.sh installs Debian's chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	errs := &pageErrors{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			errs.add("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, msg)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				errs.add("console.%s: %s", ev.Type, strings.Join(args, " "))
			}
		case *cdplog.EventEntryAdded:
			e := ev.Entry
			if e.Level == cdplog.EntryLevelError && e.Source != cdplog.EntrySourceNetwork {
				errs.add("%s error: %s (%s)", e.Source, e.Text, e.URL)
			}
		}
	})
	if err == nil {
		_, err = chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height)))
	}
	if err != nil {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for _, e := range errs.list() {
			t.Errorf("page error: %s", e)
		}
	})
	return ctx, errs
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// dispatchInput fires an input event on the element matching sel, as a user's change does.
func dispatchInput(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(sel)+`).dispatchEvent(new Event("input"))`)(ctx, t)
		return err
	})
}

// setValue sets the value of the form field matching sel, without events (chromedp's
// SetValue refuses the empty string).
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(document.querySelector(`+strconv.Quote(sel)+`).value = `+strconv.Quote(value)+`, true)`)(ctx, t)
		return err
	})
}

// waitJS waits until the JavaScript expression is truthy in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}

// run runs chromedp actions, failing the test with what as context.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	// One step waits at most stepTimeout, so a missing element fails fast.
	runWithin(t, ctx, stepTimeout, what, actions...)
}

// runWithin is run with a step bounded by d instead of stepTimeout.
func runWithin(t *testing.T, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// textOf returns the text content of the first node matching sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(css(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// apiCall calls the webhook API at base with the e2e token and decodes the envelope's
// data into out (when not nil); it returns the status.
func apiCall(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if out != nil && resp.StatusCode == http.StatusOK {
		var env struct{ Data json.RawMessage }
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, body)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s %s: data: %v: %s", method, url, err, body)
		}
	}
	return resp.StatusCode
}

// webhookStatus reads a webhook's status through the API.
func webhookStatus(t *testing.T, base, id string) string {
	t.Helper()
	var wh struct{ Status string }
	if code := apiCall(t, http.MethodGet, base+webhooksPath+"/"+id, &wh); code != http.StatusOK {
		t.Fatalf("GET webhook %s: %d", id, code)
	}
	return wh.Status
}

// screenshotter writes PNGs under docs/ when WALHOOK_SCREENSHOTS=1.
type screenshotter struct {
	t   *testing.T
	dir string
}

func newScreenshotter(t *testing.T) *screenshotter {
	if os.Getenv("WALHOOK_SCREENSHOTS") != "1" {
		return &screenshotter{t: t}
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &screenshotter{t: t, dir: dir}
}

// shot captures the viewport as docs/console-<name>.png.
func (s *screenshotter) shot(ctx context.Context, name string) {
	s.t.Helper()
	if s.dir == "" {
		return
	}
	// Outside dialogs, a blur keeps the focus ring out of the picture.
	eval[bool](s.t, ctx, `!document.querySelector("dialog[open]") && (document.activeElement.blur(), true)`)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(s.dir, "console-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("wrote %s", path)
}

// TestConsole drives the console in headless Chromium against the walhook binary: it
// asks for the token, lists the webhooks with their names, previews and creates one,
// sends tests (delivered, failed, nothing to send), backfills with progress to the end
// and cancels one, shows the request body of a real CRM change's chunk and its
// deliveries, redelivers a dead letter, pauses and resumes a webhook, and creates,
// lists and deletes an inbound webhook — checking the API agrees.
func TestConsole(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, map[string]string{
		// A failing endpoint is dead-lettered (and its webhook disabled) within a second.
		"WALHOOK_RETRY_WINDOW": "1s", "WALHOOK_RETRY_MAX_BACKOFF": "200ms", "WALHOOK_BREAKER_THRESHOLD": "1000000",
		// A backfill of the sample's 4 contacts at 1 row/s takes seconds: progress can be seen.
		"WALHOOK_BACKFILL_CHUNK_ROWS": "1",
	})
	tasks := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000c0a5")
	accounts := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000acc7")
	contacts := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000c0c7")
	p := startWalhook(t, env)
	p.waitReady(t)

	// The failing webhook first: once the Task webhook gets the probe, both are loaded.
	accounts.failFast(true)
	accountsID := registerWebhook(t, p.base, map[string]any{"url": accounts.URL(), "events": []string{"Account.*"}, "signature": accounts.secret})
	tasksID := registerWebhook(t, p.base, map[string]any{"url": tasks.URL(), "events": []string{"Task.*"}, "signature": tasks.secret, "name": "helpdesk-tasks"})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, tasks, p)
	const account = "ac000000-0000-4000-8000-000000000001"
	if _, err := conn.Exec(ctx, `UPDATE crm.accounts SET phone = '+1 555 0199' WHERE id = '`+account+`'`); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "the Account chunk dead-lettered", func() (bool, string, error) {
		var dead []struct{ ID string }
		code := apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+accountsID+"/dead-letters", &dead)
		return code == http.StatusOK && len(dead) == 1, fmt.Sprintf("%d, %d dead letters", code, len(dead)), p.checkRunning()
	})
	var taskDelivery, taskEntityID string
	testwait.Until(t, 30*time.Second, "the Task delivery logged", func() (bool, string, error) {
		var log []struct {
			Outcome    string
			DeliveryID string `json:"delivery_id"`
			Entities   []struct {
				Entity   string
				EntityID string `json:"entity_id"`
			}
		}
		code := apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+tasksID+"/deliveries", &log)
		ok := code == http.StatusOK && len(log) > 0 && log[0].Outcome == "delivered" && len(log[0].Entities) > 0
		if ok {
			taskDelivery, taskEntityID = log[0].DeliveryID, log[0].Entities[0].EntityID
		}
		return ok, fmt.Sprintf("%d, %v", code, log), p.checkRunning()
	})

	b, _ := newBrowser(t, 1280, 800)
	shots := newScreenshotter(t)

	// The page asks for the token, with the focus in the token field.
	run(t, b, "open the console", chromedp.Navigate(p.base+"/console"), chromedp.WaitVisible(css("#login-dialog")))
	if got := eval[string](t, b, `document.activeElement.id`); got != "login-token" {
		t.Errorf("focus on load is on %q, want the token field", got)
	}
	// A wrong token is refused in the dialog.
	run(t, b, "sign in with a wrong token",
		chromedp.SendKeys(css("#login-token"), "wrong"), chromedp.Click(css("#login-submit")),
		chromedp.WaitVisible(css("#login-error")))
	if got := textOf(t, b, "#login-error"); !strings.Contains(got, "refused") {
		t.Errorf("wrong token: error %q", got)
	}
	run(t, b, "sign in",
		setValue("#login-token", ""), chromedp.SendKeys(css("#login-token"), e2eToken),
		setValue("#login-space", ""), chromedp.SendKeys(css("#login-space"), "e2e"),
		chromedp.SendKeys(css("#login-space"), kb.Enter),
		chromedp.WaitNotVisible(css("#login-dialog")),
		chromedp.WaitVisible(css(`#webhooks-body tr[data-id="`+tasksID+`"]`)),
		chromedp.WaitVisible(css(`#webhooks-body tr[data-id="`+accountsID+`"][data-status="disabled"]`)))
	if got := eval[[]any](t, b, `[sessionStorage.getItem("walhook.console.token"), localStorage.getItem("walhook.console.token")]`); len(got) != 2 || got[0] != e2eToken || got[1] != nil {
		t.Errorf("token in [sessionStorage, localStorage] = %v, want only in sessionStorage", got)
	}
	// The space can be changed without retyping the token; Escape returns the focus.
	run(t, b, "space dialog", chromedp.Click(css("#space-button")), chromedp.WaitVisible(css("#login-dialog")))
	if got := eval[[]string](t, b, `[document.activeElement.id, document.getElementById("login-space").value, document.getElementById("login-title").textContent]`); strings.Join(got, "|") != "login-space|e2e|Change space or token" {
		t.Errorf("space dialog: focus, space, title = %q", got)
	}
	run(t, b, "close the space dialog", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#login-dialog")))
	if got := eval[string](t, b, `document.activeElement.id`); got != "space-button" {
		t.Errorf("focus after Escape is on %q, want the space button", got)
	}
	run(t, b, "metrics shown", chromedp.WaitVisible(css(`#m-state.ok`)))
	if got := textOf(t, b, "#m-state"); got != "streaming" {
		t.Errorf("reader state shown %q, want streaming", got)
	}
	// The page's Prometheus text parser, on escaped labels, exponents and +Inf.
	parsed := eval[[]map[string]any](t, b, `walhookConsole.parseMetrics(
		"# HELP x y\n# TYPE x counter\n" +
		"walhook_x_total{a=\"q\\\"uote\",b=\"back\\\\slash\"} 1.5e+03\n" +
		"walhook_h_bucket{le=\"+Inf\"} +Inf\n" +
		"bad line\n" +
		"walhook_g 7")`)
	if got, _ := json.Marshal(parsed); string(got) != `[{"labels":{"a":"q\"uote","b":"back\\slash"},"name":"walhook_x_total","value":1500},`+
		`{"labels":{"le":"+Inf"},"name":"walhook_h_bucket","value":null},{"labels":{},"name":"walhook_g","value":7}]` {
		t.Errorf("parseMetrics = %s", got)
	}
	run(t, b, "throughput shown", chromedp.WaitVisible(css("#reader-cards[data-rates]")))
	if got := textOf(t, b, "#m-events-rate"); got == "—" || got == "" {
		t.Errorf("events/s shown %q after two samples", got)
	}
	if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("at 1280×800 the page is %v px wide (scrollWidth, innerWidth)", w)
	}
	// The webhook's name is a column of the list.
	if got := eval[string](t, b, `document.querySelector('#webhooks-body tr[data-id="`+tasksID+`"] td[data-label="Name"]')?.textContent ?? "(no Name cell)"`); got != "helpdesk-tasks" {
		t.Errorf("name shown in the list %q, want helpdesk-tasks", got)
	}
	shots.shot(b, "webhooks")

	// Pause and resume from the list; the API agrees each time.
	row := `#webhooks-body tr[data-id="` + tasksID + `"]`
	run(t, b, "pause from the list", chromedp.Click(css(row+` button`)), chromedp.WaitVisible(css(row+`[data-status="paused"]`)))
	if st := webhookStatus(t, p.base, tasksID); st != "paused" {
		t.Errorf("API status after pause in the list: %q", st)
	}
	run(t, b, "resume from the list", chromedp.Click(css(row+` button`)), chromedp.WaitVisible(css(row+`[data-status="active"]`)))
	if st := webhookStatus(t, p.base, tasksID); st != "active" {
		t.Errorf("API status after resume in the list: %q", st)
	}

	// Create a webhook through the form, by keyboard; the signature is shown once.
	const contactsSig = "3f2a1b4c-0000-4000-8000-00000000c0c7"
	run(t, b, "create a webhook",
		chromedp.Focus(css("#new-webhook")), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css("#webhook-dialog")),
		chromedp.SendKeys(css("#wf-url"), contacts.URL()),
		chromedp.SendKeys(css("#wf-events"), "Contact.Create, Contact.Update"),
		chromedp.SendKeys(css("#wf-name"), "crm-contacts"),
		chromedp.SendKeys(css("#wf-signature"), contactsSig))
	shots.shot(b, "new-webhook")
	// Preview: the sample CRM's 4 contacts as Contact.Create items, nothing stored.
	run(t, b, "preview the webhook", chromedp.Click(css("#wf-preview")), chromedp.WaitVisible(css("#preview-result")))
	if got := textOf(t, b, "#preview-summary"); !strings.HasPrefix(got, "4 items would be sent, 0 rows filtered out") {
		t.Errorf("preview summary %q, want the 4 contacts", got)
	}
	if got := eval[[]string](t, b, `[...document.querySelectorAll("#preview-result details.preview-item summary")].map((s) => s.textContent)`); len(got) != 4 || !strings.HasPrefix(got[0], "Contact.Create · c0000000-") {
		t.Errorf("preview items %q, want 4 Contact.Create items", got)
	}
	shots.shot(b, "preview")
	run(t, b, "close the preview", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")), chromedp.WaitVisible(css("#webhook-dialog")))
	if got := eval[string](t, b, `document.activeElement.id`); got != "wf-preview" {
		t.Errorf("focus after closing the preview is on %q, want the Preview button", got)
	}
	var none []struct{ ID string }
	if apiCall(t, http.MethodGet, p.base+webhooksPath, &none); len(none) != 2 {
		t.Errorf("after the preview the API lists %d webhooks, want the 2 registered", len(none))
	}
	// The dialog keeps Tab inside: Shift+Tab from its first field wraps to its last button.
	run(t, b, "shift+tab in the dialog", chromedp.Focus(css("#wf-url")), chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if got := eval[string](t, b, `document.activeElement.id`); got != "wf-submit" {
		t.Errorf("Shift+Tab from the dialog's first field went to %q, want wf-submit", got)
	}
	run(t, b, "submit the webhook",
		chromedp.Click(css("#wf-submit")), chromedp.WaitVisible(css("#created-signature")))
	if got := textOf(t, b, "#created-signature"); got != contactsSig {
		t.Errorf("created signature shown %q, want %q", got, contactsSig)
	}
	run(t, b, "close with Escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")),
		chromedp.WaitVisible(css("#wh-pause")))
	contactsID := strings.TrimPrefix(eval[string](t, b, `decodeURIComponent(location.hash)`), "#/webhooks/")
	var created struct {
		URL    string
		Events []string
		Status string
		Name   string
	}
	if code := apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+contactsID, &created); code != http.StatusOK ||
		created.URL != contacts.URL() || strings.Join(created.Events, ",") != "Contact.Create,Contact.Update" || created.Status != "active" ||
		created.Name != "crm-contacts" {
		t.Fatalf("webhook %q created through the console: %d %+v", contactsID, code, created)
	}
	// The page is headed by the name, which is also among its facts.
	run(t, b, "the webhook's name shown", waitJS(`document.getElementById("webhook-heading").textContent === "crm-contacts" &&
		document.getElementById("wh-name")?.textContent === "crm-contacts"`))

	// Send a test: the receiver's 200, the latency and the exact body sent.
	run(t, b, "send a test", chromedp.Click(css("#wh-test")), chromedp.WaitVisible(css("#notice .bad, #test-result")))
	if got := eval[[]string](t, b, `[document.querySelector("#test-result")?.dataset.outcome, document.querySelector("#test-result")?.dataset.status, document.getElementById("notice").textContent]`); got[0] != "delivered" || got[1] != "200" {
		t.Fatalf("test result: outcome, status, notice = %q, want delivered, 200", got)
	}
	if got := textOf(t, b, "#test-summary"); !strings.HasPrefix(got, "Test delivered: the receiver answered 200 in ") {
		t.Errorf("test summary %q", got)
	}
	if got := textOf(t, b, "#test-body"); !strings.Contains(got, `"event": "Contact.Create"`) || !strings.Contains(got, `"webhook_id": "`+contactsID+`"`) {
		t.Errorf("test result's body sent lacks the Contact.Create item for webhook %s:\n%s", contactsID, got)
	}
	shots.shot(b, "test-send")
	run(t, b, "close the test result", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")))
	if got := eval[string](t, b, `document.activeElement.id`); got != "wh-test" {
		t.Errorf("focus after closing the test result is on %q, want the Send test button", got)
	}
	if got := contacts.deliveryList(); len(got) != 1 || got[0].header.Get("Walhook-Test") != "true" {
		t.Errorf("the receiver got %d requests, want the one test (Walhook-Test: true)", len(got))
	}

	// Pause and resume by keyboard; the API agrees each time.
	run(t, b, "pause", chromedp.Focus(css("#wh-pause")), waitJS(`document.activeElement.id === "wh-pause"`),
		chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(css("#wh-resume")))
	if got := textOf(t, b, "#wh-status"); got != "paused" {
		t.Errorf("status shown after pause: %q", got)
	}
	if st := webhookStatus(t, p.base, contactsID); st != "paused" {
		t.Errorf("API status after pause in the console: %q", st)
	}
	run(t, b, "resume", chromedp.Focus(css("#wh-resume")), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(css("#wh-pause")))
	if st := webhookStatus(t, p.base, contactsID); st != "active" {
		t.Errorf("API status after resume in the console: %q", st)
	}

	// Edit: the events change; the masked signature, not sent back, stays as it was.
	run(t, b, "edit the webhook",
		chromedp.Click(css("#wh-edit")), chromedp.WaitVisible(css("#webhook-dialog")),
		setValue("#wf-events", ""), chromedp.SendKeys(css("#wf-events"), "Contact.*"),
		setValue("#wf-name", ""), chromedp.SendKeys(css("#wf-name"), "crm-contacts-2"),
		chromedp.Click(css("#wf-submit")), chromedp.WaitNotVisible(css("#webhook-dialog")),
		waitJS(`document.querySelector("#wh-facts .events")?.textContent === "Contact.*"`),
		waitJS(`document.getElementById("wh-name")?.textContent === "crm-contacts-2"`))
	var edited struct {
		Events []string
		Name   string
	}
	var secret struct{ Signature string }
	apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+contactsID, &edited)
	apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+contactsID+"/secret", &secret)
	if strings.Join(edited.Events, ",") != "Contact.*" || secret.Signature != contactsSig || edited.Name != "crm-contacts-2" {
		t.Errorf("after the edit the API has events %v, name %q and signature %q, want [Contact.*], crm-contacts-2 and %q", edited.Events, edited.Name, secret.Signature, contactsSig)
	}

	consoleBackfill(t, b, p, shots, contacts, contactsID)

	// The Task webhook's delivery log: the probe's chunk, delivered; its request and response.
	run(t, b, "open the Task webhook",
		chromedp.Navigate(p.base+"/console/#/webhooks/"+tasksID),
		chromedp.WaitVisible(css(`#deliveries-body tr[data-outcome="delivered"]`)))
	shots.shot(b, "deliveries")
	run(t, b, "filter deliveries",
		setValue("#f-outcome", "timeout"), dispatchInput("#f-outcome"),
		chromedp.WaitVisible(css("#deliveries-empty")),
		setValue("#f-outcome", ""), dispatchInput("#f-outcome"), chromedp.SendKeys(css("#f-search"), "delivered"),
		chromedp.WaitVisible(css(`#deliveries-body tr[data-outcome="delivered"] button`)))
	// The API's search: an entity id no chunk carried, then the probe's Task.
	run(t, b, "search deliveries by an unknown entity id",
		chromedp.SendKeys(css("#f-entity-id"), "no-such-task"), chromedp.SendKeys(css("#f-entity-id"), kb.Enter),
		chromedp.WaitVisible(css("#deliveries-empty")))
	run(t, b, "search deliveries by entity id",
		setValue("#f-entity-id", ""), chromedp.SendKeys(css("#f-entity-id"), taskEntityID), chromedp.SendKeys(css("#f-entity-id"), kb.Enter),
		chromedp.WaitVisible(css(`#deliveries-body tr[data-delivery="`+taskDelivery+`"] button`)))
	run(t, b, "view a delivery",
		chromedp.Click(css(`#deliveries-body tr[data-delivery="`+taskDelivery+`"] button`)),
		chromedp.WaitVisible(css("#delivery-request-body")))
	// The delivery log keeps request bodies: it must be the probe's chunk, as sent.
	if got := textOf(t, b, "#delivery-request-body"); !strings.Contains(got, `"Task.Update"`) || !strings.Contains(got, taskDelivery) ||
		!strings.Contains(got, `"entity_id": "`+taskEntityID+`"`) {
		t.Errorf("delivery request body is not the Task.Update chunk %s of task %s:\n%s", taskDelivery, taskEntityID, got)
	}
	shots.shot(b, "delivery")
	run(t, b, "close the delivery", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")))
	if got := eval[string](t, b, `document.activeElement.textContent`); got != "View" {
		t.Errorf("focus after closing the delivery dialog is on %q, want its View button", got)
	}

	// The Account webhook: disabled with its reason, the chunk dead-lettered with the
	// request body of the real CRM change; redeliver it and resume.
	run(t, b, "open the Account webhook's dead letters",
		chromedp.Navigate(p.base+"/console/#/webhooks/"+accountsID+"/dead"),
		chromedp.WaitVisible(css(`#dead-body tr[data-dead] button`)))
	if got := textOf(t, b, "#wh-reason"); !strings.Contains(got, "retry window") {
		t.Errorf("disabled reason shown %q", got)
	}
	shots.shot(b, "dead-letters")
	run(t, b, "view the dead letter",
		chromedp.Click(css(`#dead-body tr[data-dead] button`)), chromedp.WaitVisible(css("#dead-request-body")))
	body := textOf(t, b, "#dead-request-body")
	if !strings.Contains(body, `"entity_id": "`+account+`"`) || !strings.Contains(body, `"Account.Update"`) {
		t.Errorf("dead letter's request body lacks the Account.Update of %s:\n%s", account, body)
	}
	shots.shot(b, "dead-letter")
	run(t, b, "close the dead letter", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")))
	// A test of the failing endpoint (disabled webhooks are tested all the same): its 503.
	run(t, b, "send a failing test", chromedp.Click(css("#wh-test")), chromedp.WaitVisible(css("#test-result")))
	if got := eval[[]string](t, b, `[document.querySelector("#test-result").dataset.outcome, document.querySelector("#test-result").dataset.status, document.getElementById("test-summary").className]`); strings.Join(got, "|") != "http_error|503|summary-line bad" {
		t.Errorf("failing test: outcome, status, summary class = %q, want http_error, 503, bad", got)
	}
	run(t, b, "close the failing test", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#detail-dialog")))
	accounts.failFast(false)
	run(t, b, "resume and redeliver",
		chromedp.Click(css("#wh-resume")), chromedp.WaitVisible(css("#wh-pause")),
		chromedp.WaitVisible(css(`#dead-body:not([aria-busy]) tr[data-dead] button[aria-label^="Redeliver"]`)),
		chromedp.Click(css(`#dead-body tr[data-dead] button[aria-label^="Redeliver"]`)),
		chromedp.WaitVisible(css("#dead-empty")))
	testwait.Until(t, 30*time.Second, "the redelivered Account.Update", func() (bool, string, error) {
		n := len(accounts.entityIDs("Account.Update")[account])
		return n == 1, fmt.Sprintf("%d received", n), p.checkRunning()
	})
	if st := webhookStatus(t, p.base, accountsID); st != "active" {
		t.Errorf("API status after resume in the console: %q", st)
	}

	consoleInbound(t, b, p, shots)

	// Phone width: the list as cards, nothing wider than the screen.
	run(t, b, "phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(p.base+"/console/#/webhooks"),
		chromedp.WaitVisible(css(`#webhooks-body tr[data-id="`+contactsID+`"]`)))
	if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("at phone width the page is %v px wide (scrollWidth, innerWidth)", w)
	}
	shots.shot(b, "phone")
	// The backfill progress and the inbound screen fit the phone too.
	run(t, b, "backfill at phone width", chromedp.Navigate(p.base+"/console/#/webhooks/"+contactsID+"/backfill"),
		chromedp.WaitVisible(css(`#bf-progress[data-state="cancelled"]`)))
	if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("the backfill tab at phone width is %v px wide (scrollWidth, innerWidth)", w)
	}
	run(t, b, "inbound at phone width", chromedp.Navigate(p.base+"/console/#/inbound"), chromedp.WaitVisible(css("#inbound-form")))
	if w := eval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("the inbound screen at phone width is %v px wide (scrollWidth, innerWidth)", w)
	}
	for _, r := range []*receiver{tasks, accounts, contacts} {
		r.checkNoProblems(t)
	}
}

// consoleBackfill drives the Backfill tab of the webhook id (subscribed to Contact.*,
// delivering to contacts): a backfill of the sample's 4 contacts at 1 row/s followed to
// "done" with 4 of 4 rows, a second one refused (409) while it runs, then one cancelled.
func consoleBackfill(t *testing.T, b context.Context, p *walhookProc, shots *screenshotter, contacts *receiver, id string) {
	t.Helper()
	run(t, b, "backfill tab", chromedp.Click(css("#tab-backfill")), chromedp.WaitVisible(css("#backfill-form")),
		chromedp.WaitVisible(css(`#bf-choices input[value="Contact"]`)))
	if got := eval[[]any](t, b, `[...document.querySelectorAll("#bf-choices input")].map((c) => c.value + ":" + c.checked)`); fmt.Sprint(got) != "[Contact:true]" {
		t.Errorf("backfill offers %v, want the webhook's entity Contact, checked", got)
	}
	run(t, b, "start a backfill",
		chromedp.SendKeys(css("#bf-rate"), "1"), chromedp.Click(css("#bf-start")),
		chromedp.WaitVisible(css(`#bf-progress[data-state="running"]`)))
	if got := textOf(t, b, "#notice"); got != "Backfill started: Contact." {
		t.Errorf("notice after starting a backfill: %q", got)
	}
	// A second one while it runs: the API's 409, shown in the form.
	run(t, b, "start a second backfill", chromedp.Click(css("#bf-start")), waitJS(`document.getElementById("bf-error").textContent !== ""`))
	if got := textOf(t, b, "#bf-error"); !strings.Contains(got, "already running") {
		t.Errorf("second backfill while one runs: %q", got)
	}
	// The progress bar moves (caught when a poll lands mid-way; the screenshot is best effort).
	runWithin(t, b, 30*time.Second, "backfill progress", waitJS(`(() => { const d = document.getElementById("bf-progress").dataset;
		return d.state === "done" || (d.state === "running" && Number(d.done) >= 1); })()`))
	eval[bool](t, b, `(window.scrollTo(0, document.getElementById("tab-backfill").getBoundingClientRect().top + window.scrollY - 16), true)`)
	shots.shot(b, "backfill")
	runWithin(t, b, 30*time.Second, "backfill done", chromedp.WaitVisible(css(`#bf-progress[data-state="done"]`)))
	if got := eval[[]string](t, b, `(() => { const d = document.getElementById("bf-progress").dataset; const bar = document.getElementById("bf-bar");
		return [d.done, d.total, String(bar.value), String(bar.max), document.getElementById("bf-state").textContent]; })()`); strings.Join(got, " ") != "4 4 4 4 done" {
		t.Errorf("backfill shown done: rows_done, rows_total, bar value, bar max, state = %q, want 4 of 4, done", got)
	}
	if got := textOf(t, b, "#bf-text"); !strings.HasPrefix(got, "4 of 4 rows (100%)") {
		t.Errorf("backfill progress text %q", got)
	}
	if eval[bool](t, b, `!document.getElementById("bf-cancel").hidden`) {
		t.Error("the Cancel button is shown for a finished backfill")
	}
	var bf struct {
		State     string
		RowsDone  int `json:"rows_done"`
		RowsTotal int `json:"rows_total"`
	}
	if code := apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+id+"/backfill", &bf); code != http.StatusOK || bf.State != "done" || bf.RowsDone != 4 || bf.RowsTotal != 4 {
		t.Errorf("API backfill after the console's: %d %+v", code, bf)
	}
	testwait.Until(t, 30*time.Second, "4 Contact.Backfill items", func() (bool, string, error) {
		n := len(contacts.entityIDs("Contact.Backfill"))
		return n == 4, fmt.Sprintf("%d contacts", n), p.checkRunning()
	})

	// Another one, cancelled from the console (confirmed in a dialog).
	run(t, b, "start a backfill to cancel",
		setValue("#bf-rate", "1"), chromedp.Click(css("#bf-start")),
		chromedp.WaitVisible(css(`#bf-progress[data-state="running"] #bf-cancel`)),
		chromedp.Click(css("#bf-cancel")), chromedp.WaitVisible(css("#confirm-dialog")),
		chromedp.Click(css("#confirm-ok")), chromedp.WaitVisible(css(`#bf-progress[data-state="cancelled"]`)))
	if got := textOf(t, b, "#notice"); got != "Backfill cancelled." {
		t.Errorf("notice after cancelling: %q", got)
	}
	if got := eval[string](t, b, `document.activeElement.id`); got != "bf-start" {
		t.Errorf("focus after cancelling is on %q, want the Start button (Cancel is gone)", got)
	}
	if code := apiCall(t, http.MethodGet, p.base+webhooksPath+"/"+id+"/backfill", &bf); code != http.StatusOK || bf.State != "cancelled" {
		t.Errorf("API backfill after cancelling in the console: %d %+v", code, bf)
	}
}

// consoleInbound creates an inbound webhook on the Inbound screen, sees it listed as the
// API lists it (its description, holding markup, shown as text), tests a webhook
// subscribed only to it (409: no row to build a sample from), and deletes it.
func consoleInbound(t *testing.T, b context.Context, p *walhookProc, shots *screenshotter) {
	t.Helper()
	const key = "webhook.console.lead.created"
	const desc = `Leads from the form <img src=x id=injected> & "quotes"`
	run(t, b, "inbound", chromedp.Click(css(`a[data-nav="inbound"]`)), chromedp.WaitVisible(css("#inbound-form")),
		chromedp.WaitVisible(css("#inbound-message")))
	if got := textOf(t, b, "#inbound-message"); got != "No inbound webhooks yet." {
		t.Errorf("inbound screen before any: %q", got)
	}
	run(t, b, "create an inbound webhook",
		chromedp.SendKeys(css("#in-key"), key), chromedp.SendKeys(css("#in-description"), desc),
		chromedp.SendKeys(css("#in-description"), kb.Enter),
		chromedp.WaitVisible(css(`#inbound-body tr[data-event-key="`+key+`"]`)))
	status, raw := inboundCommand(t, p.base, "webhook.get", nil, nil)
	var list []struct {
		UUID        string `json:"uuid"`
		EventKey    string `json:"eventKey"`
		WebhookURL  string `json:"webhookUrl"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(raw, &list); status != http.StatusOK || err != nil || len(list) != 1 || list[0].EventKey != key || list[0].Description != desc {
		t.Fatalf("webhook.get after creating in the console: %d %s (%v)", status, raw, err)
	}
	row := `#inbound-body tr[data-uuid="` + list[0].UUID + `"]`
	got := eval[[]string](t, b, `[...document.querySelectorAll(`+strconv.Quote(row+" td")+`)].slice(0, 3).map((td) => td.textContent)`)
	if want := []string{key, list[0].WebhookURL, desc}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("inbound row shows %q, want %q", got, want)
	}
	if eval[bool](t, b, `!!document.getElementById("injected")`) {
		t.Error("the inbound description was parsed as HTML")
	}
	shots.shot(b, "inbound")

	// Test-send on a webhook subscribed to inbound events only: nothing to build a sample from.
	inboundOnly := registerWebhook(t, p.base, map[string]any{"url": "http://127.0.0.1:9/none", "events": []string{"webhook.console.*"}})
	run(t, b, "test an inbound-only webhook", chromedp.Navigate(p.base+"/console/#/webhooks/"+inboundOnly),
		chromedp.WaitVisible(css("#view-webhook:not([aria-busy]) #wh-test")),
		waitJS(`document.querySelector("#wh-facts .mono")?.textContent === `+strconv.Quote(inboundOnly)),
		chromedp.Click(css("#wh-test")), chromedp.WaitVisible(css("#notice .bad, #test-result")))
	if got := textOf(t, b, "#notice"); !strings.HasPrefix(got, "Nothing to test with: ") {
		t.Errorf("test-send with no sample row: notice %q", got)
	}
	if code := apiCall(t, http.MethodDelete, p.base+webhooksPath+"/"+inboundOnly, nil); code != http.StatusOK {
		t.Errorf("DELETE the inbound-only webhook: %d", code)
	}

	// The list is loaded again on the way back: wait for that answer, or the click may land
	// on the row it replaces ("Could not find node with given id").
	loaded := strings.Replace(row, "#inbound-body", "#inbound-body:not([aria-busy])", 1)
	run(t, b, "delete the inbound webhook",
		chromedp.Click(css(`a[data-nav="inbound"]`)), chromedp.WaitVisible(css(loaded+" button")),
		chromedp.Click(css(loaded+" button")), chromedp.WaitVisible(css("#confirm-dialog")),
		chromedp.Click(css("#confirm-ok")), chromedp.WaitVisible(css("#inbound-message")))
	if got := eval[string](t, b, `document.activeElement.id`); got != "in-key" {
		t.Errorf("focus after deleting an inbound webhook is on %q, want the event key field", got)
	}
	if status, raw := inboundCommand(t, p.base, "webhook.get", nil, nil); status != http.StatusOK || strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("webhook.get after deleting in the console: %d %s", status, raw)
	}
}
