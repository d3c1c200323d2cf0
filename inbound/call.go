package inbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/walhook/walhook/internal/jsonx"
)

// allowedHeaders are the request headers a call object carries (lowercase): what helps a
// subscriber route and deduplicate, never credentials or signatures.
var allowedHeaders = []string{
	"accept", "content-length", "content-type", "user-agent", "webhook-id", "webhook-timestamp",
	"x-request-id", "x-correlation-id", "x-forwarded-for", "x-real-ip",
	"x-github-event", "x-github-delivery", "x-gitlab-event", "x-event-key", "x-event-type",
	"x-shopify-topic", "x-shopify-shop-domain",
}

// maxParts bounds the parts of a multipart body and the fields of a form.
const maxParts = 1000

// callFile is one file of a call.
type callFile struct {
	field, filename, contentType string
	content                      []byte
	sha256                       string
}

// errBadBody is a body that claims a format it does not have.
var errBadBody = errors.New("bad body")

// parseBody turns a request body into the call's body (JSON) and files: JSON as it is,
// forms and multipart fields as an object (a repeated field as a list of its values),
// multipart files and non-UTF-8 bodies of other types as files, other text as a string,
// nothing as null.
func parseBody(contentType string, body []byte) (json.RawMessage, []callFile, error) {
	if len(body) == 0 {
		return json.RawMessage("null"), nil, nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if json.Valid(body) {
			return compactJSON(body), nil, nil
		}
	case mt == "application/x-www-form-urlencoded":
		f, err := parseForm(string(body))
		if err != nil {
			return nil, nil, err
		}
		return f.appendJSON(nil), nil, nil
	case mt == "multipart/form-data":
		return parseMultipart(body, params["boundary"])
	}
	if utf8.Valid(body) {
		return appendString(nil, string(body)), nil, nil
	}
	if mt == "" {
		mt = "application/octet-stream"
	}
	return json.RawMessage("null"), []callFile{newFile("body", "", mt, body)}, nil
}

// compactJSON removes insignificant space, so the call object is as small as the body allows.
func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func newFile(field, filename, contentType string, content []byte) callFile {
	sum := sha256.Sum256(content)
	return callFile{field: field, filename: filename, contentType: contentType, content: content, sha256: hex.EncodeToString(sum[:])}
}

// form is an ordered multimap of fields.
type form struct {
	keys []string
	vals map[string][]string
}

func (f *form) add(k, v string) error {
	if f.vals == nil {
		f.vals = map[string][]string{}
	}
	if _, ok := f.vals[k]; !ok {
		if len(f.keys) >= maxParts {
			return fmt.Errorf("%w: more than %d fields", errBadBody, maxParts)
		}
		f.keys = append(f.keys, k)
	}
	f.vals[k] = append(f.vals[k], v)
	return nil
}

// appendJSON appends the fields as an object: a field's value, or the list of its values.
func (f *form) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, k := range f.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		vs := f.vals[k]
		if len(vs) == 1 {
			dst = appendString(dst, vs[0])
			continue
		}
		dst = append(dst, '[')
		for j, v := range vs {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func parseForm(s string) (*form, error) {
	f := &form{}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%w: form: %v", errBadBody, err)
		}
		if err := f.add(k, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func parseMultipart(body []byte, boundary string) (json.RawMessage, []callFile, error) {
	if boundary == "" {
		return nil, nil, fmt.Errorf("%w: multipart/form-data without a boundary", errBadBody)
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	fields := &form{}
	var files []callFile
	for n := 0; ; n++ {
		// NextRawPart: files are kept byte for byte, whatever Content-Transfer-Encoding says.
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: multipart: %v", errBadBody, err)
		}
		if n >= maxParts {
			return nil, nil, fmt.Errorf("%w: more than %d parts", errBadBody, maxParts)
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: multipart part %d: %v", errBadBody, n, err)
		}
		name := p.FormName()
		if p.FileName() == "" && utf8.Valid(content) {
			if err := fields.add(name, string(content)); err != nil {
				return nil, nil, err
			}
			continue
		}
		ct := p.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		files = append(files, newFile(name, p.FileName(), ct, content))
	}
	return fields.appendJSON(nil), files, nil
}

// callObject is what a call raises (DESIGN.md §13); its JSON starts with "uuid", which
// the reader reads as the event's order key.
type callObject struct {
	uuid, eventKey    string
	receivedAt        time.Time
	method, mediaType string
	header            http.Header
	query             url.Values
	body              json.RawMessage
	files             []callFile
	fileURL           func(idx int) string
}

func (c *callObject) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"uuid":`...)
	dst = appendString(dst, c.uuid)
	dst = append(dst, `,"eventKey":`...)
	dst = appendString(dst, c.eventKey)
	dst = append(dst, `,"received_at":"`...)
	dst = c.receivedAt.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `","method":`...)
	dst = appendString(dst, c.method)
	dst = append(dst, `,"content_type":`...)
	if c.mediaType == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, c.mediaType)
	}
	dst = append(dst, `,"headers":{`...)
	n := 0
	for _, name := range allowedHeaders {
		vs := c.header.Values(name)
		if len(vs) == 0 {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendString(dst, name)
		dst = append(dst, ':')
		dst = appendString(dst, strings.Join(vs, ", "))
	}
	dst = append(dst, `},"query":`...)
	q := &form{}
	for _, k := range slices.Sorted(maps.Keys(c.query)) {
		if k == "uuid" {
			continue
		}
		for _, v := range c.query[k] {
			_ = q.add(k, v)
		}
	}
	dst = q.appendJSON(dst)
	dst = append(dst, `,"body":`...)
	dst = append(dst, c.body...)
	dst = append(dst, `,"files":[`...)
	for i, f := range c.files {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"field":`...)
		dst = appendString(dst, f.field)
		dst = append(dst, `,"filename":`...)
		dst = appendString(dst, f.filename)
		dst = append(dst, `,"content_type":`...)
		dst = appendString(dst, f.contentType)
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, int64(len(f.content)), 10)
		dst = append(dst, `,"sha256":`...)
		dst = appendString(dst, f.sha256)
		dst = append(dst, `,"url":`...)
		dst = appendString(dst, c.fileURL(i))
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte { return jsonx.AppendString(dst, s) }
