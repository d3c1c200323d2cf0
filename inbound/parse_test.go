package inbound

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseBody(t *testing.T) {
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("a", "1")
	mw.WriteField("a", "2")
	fw, _ := mw.CreateFormFile("f", "x.bin")
	fw.Write([]byte{0, 1, 2, 0xff})
	mw.Close()
	for _, c := range []struct {
		ct, body, want string
		files          int
	}{
		{"application/json", `{ "a" : [1, 2.50] }`, `{"a":[1,2.50]}`, 0},
		{"application/vnd.api+json; charset=utf-8", `[true]`, `[true]`, 0},
		{"application/json", `{"a":`, `"{\"a\":"`, 0}, // not JSON: text
		{"application/x-www-form-urlencoded", "a=1&b=x+y&a=2&c=", `{"a":["1","2"],"b":"x y","c":""}`, 0},
		{"text/plain", "héllo\n", `"héllo\n"`, 0},
		{"", "", `null`, 0},
		{"application/octet-stream", "\xff\xfe", `null`, 1},
		{mw.FormDataContentType(), mp.String(), `{"a":["1","2"]}`, 1},
	} {
		got, files, err := parseBody(c.ct, []byte(c.body))
		if err != nil || string(got) != c.want || len(files) != c.files {
			t.Errorf("parseBody(%q, %q) = %s, %d files, %v; want %s, %d files", c.ct, c.body, got, len(files), err, c.want, c.files)
		}
	}
	for _, c := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"multipart/form-data", "x"},
		{"multipart/form-data; boundary=b", "--b\r\nbroken"},
	} {
		if _, _, err := parseBody(c.ct, []byte(c.body)); err == nil {
			t.Errorf("parseBody(%q, %q) accepted", c.ct, c.body)
		}
	}
}

// FuzzParseBody: outside bytes give an error or a valid JSON body, never a panic.
func FuzzParseBody(f *testing.F) {
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nabc\r\n--b--\r\n"))
	f.Add("text/plain", []byte{0xff})
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		got, _, err := parseBody(ct, body)
		if err == nil && !json.Valid(got) {
			t.Fatalf("parseBody(%q, %q) = %q: not JSON", ct, body, got)
		}
	})
}

func TestCallObjectIsJSON(t *testing.T) {
	c := callObject{uuid: "u", eventKey: "webhook.a", receivedAt: time.Unix(0, 0), method: "POST",
		header: http.Header{"X-Github-Event": {"push"}, "Authorization": {"secret"}}, query: map[string][]string{"uuid": {"u"}, "b": {"1"}},
		body: json.RawMessage(`{"x":1}`), files: []callFile{newFile("f", "a\"b", "text/plain", []byte("hi"))},
		fileURL: func(i int) string { return "/files/0" }}
	b := c.appendJSON(nil)
	want := `{"uuid":"u","eventKey":"webhook.a","received_at":"1970-01-01T00:00:00.000000Z","method":"POST","content_type":null,` +
		`"headers":{"x-github-event":"push"},"query":{"b":"1"},"body":{"x":1},"files":[{"field":"f","filename":"a\"b",` +
		`"content_type":"text/plain","size":2,"sha256":"8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4","url":"/files/0"}]}`
	if string(b) != want {
		t.Errorf("call object\n got %s\nwant %s", b, want)
	}
}

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(2, 3)
		now := time.Now()
		for i := range 3 {
			if ok, _ := l.allow("a", now); !ok {
				t.Fatalf("call %d of the burst refused", i)
			}
		}
		ok, wait := l.allow("a", now)
		if ok || wait != 500*time.Millisecond {
			t.Fatalf("4th call: %t, wait %s; want refused, 500ms", ok, wait)
		}
		if ok, _ := l.allow("b", now); !ok {
			t.Fatal("another key refused")
		}
		time.Sleep(wait)
		if ok, _ := l.allow("a", time.Now()); !ok {
			t.Fatal("refused after Retry-After")
		}
	})
}
