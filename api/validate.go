package api

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walhook/walhook/internal/netguard"
	"github.com/walhook/walhook/internal/uuidx"
	"github.com/walhook/walhook/matcher"
)

// pipelinerMetadata are the fields of Pipeliner's webhook create response (seed 000) that
// describe Pipeliner itself: delete protection and the OAuth application and client that
// registered the webhook. walhook has neither, so it shows them as Pipeliner shows a webhook
// registered with an API token: not protected, no application, no client. They are
// read-only (readOnly): a client may echo them back, not set them.
const pipelinerMetadata = `,"is_delete_protected":false,"application":null,"client":null,"application_id":null,"client_id":null`

// Field limits.
const (
	maxURLBytes  = 2048
	maxAuthBytes = 256
	maxNameBytes = 255
)

// Resolver looks up a host's addresses; *net.Resolver satisfies it.
type Resolver interface {
	// LookupNetIP returns the addresses of host for network "ip"; an error means none
	// could be found (the host may still resolve later).
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func invalid(field, format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, field, field+": "+fmt.Sprintf(format, args...))
}

// checkURL validates a webhook URL: absolute http(s) with a host, no credentials, a valid
// port, and, unless private targets are allowed, a host that neither is nor resolves to a
// forbidden address (see netguard). A host that does not resolve now is accepted: the
// sender checks the address it dials anyway.
func (a *API) checkURL(ctx context.Context, raw string) *apiError {
	switch {
	case raw == "":
		return invalid("url", "required")
	case len(raw) > maxURLBytes:
		return invalid("url", "longer than %d bytes", maxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "%s is not a URL: %v", shorten(raw), unwrapURLError(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("url", "%s: the scheme must be http or https", shorten(raw))
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return invalid("url", "%s has no host", shorten(raw))
	case u.User != nil:
		return invalid("url", "%s holds credentials; use http_auth_user and http_auth_password", shorten(redacted(u)))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("url", "%s: port %s is out of range", shorten(raw), shorten(p))
		}
	}
	if a.cfg.AllowPrivateTargets {
		return nil
	}
	return a.checkHost(ctx, u.Hostname())
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func redacted(u *url.URL) string { return u.Redacted() }

// checkHost refuses hosts that are, or resolve to, forbidden addresses.
func (a *API) checkHost(ctx context.Context, host string) *apiError {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if reason := netguard.Classify(ip); reason != "" {
			return invalid("url", "host %s is a %s address; deliveries to private targets are disabled (set WALHOOK_ALLOW_PRIVATE_TARGETS=true to allow them)", shorten(host), reason)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return invalid("url", "host %s is a loopback name; deliveries to private targets are disabled (set WALHOOK_ALLOW_PRIVATE_TARGETS=true to allow them)", shorten(host))
	}
	if looksNumeric(host) {
		return invalid("url", "host %s is neither a canonical IP address nor a DNS name", shorten(host))
	}
	lctx, cancel := context.WithTimeout(ctx, a.cfg.LookupTimeout)
	defer cancel()
	ips, err := a.cfg.Resolver.LookupNetIP(lctx, "ip", host)
	if err != nil {
		a.log.Debug("webhook url host does not resolve; accepted", "host", host, "err", err)
		return nil
	}
	for _, ip := range ips {
		if reason := netguard.Classify(ip); reason != "" {
			return invalid("url", "host %s resolves to %s, a %s address; deliveries to private targets are disabled (set WALHOOK_ALLOW_PRIVATE_TARGETS=true to allow them)",
				shorten(host), ip, reason)
		}
	}
	return nil
}

// looksNumeric reports hosts whose last label is numeric ("2130706433", "0x7f.1",
// "127.1"): no DNS name ends so, and some resolvers read them as IPv4 addresses.
func looksNumeric(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkWebhook validates a complete webhook (after PATCH merging) except the URL's host,
// which checkURL does.
func (a *API) checkWebhook(wh *matcher.Webhook) *apiError {
	if err := checkName(wh.Name); err != nil {
		return err
	}
	if wh.Signature != "" && !uuidx.Is(wh.Signature) {
		return invalid("signature", "%s is not a UUID (8-4-4-4-12 hexadecimal digits)", shorten(wh.Signature))
	}
	switch wh.Signing {
	case "", matcher.SigningPipeliner:
	case matcher.SigningStandardWebhooks:
		if wh.Signature == "" {
			return invalid("signing", "%q needs a signature (its secret is whsec_ + base64 of the signature)", wh.Signing)
		}
	default:
		return invalid("signing", "unknown signing %s (want %q or %q)", shorten(wh.Signing),
			matcher.SigningPipeliner, matcher.SigningStandardWebhooks)
	}
	if err := checkAuth(wh); err != nil {
		return err
	}
	if err := checkHeaders(wh.Headers); err != nil {
		return err
	}
	if wh.Timeout != 0 && (wh.Timeout < time.Second || wh.Timeout > a.cfg.MaxTimeout) {
		return invalid("timeout", "%s seconds is out of range: from 1 to %s (WALHOOK_MAX_WEBHOOK_TIMEOUT)",
			strconv.FormatFloat(wh.Timeout.Seconds(), 'f', -1, 64), strconv.FormatFloat(a.cfg.MaxTimeout.Seconds(), 'f', -1, 64))
	}
	if a.validator == nil {
		return errorf(http.StatusInternalServerError, "", "api: no mapping configured")
	}
	if err := a.validator.Check(wh.Events, wh.Options); err != nil {
		if ve, ok := err.(*matcher.ValidationError); ok {
			return errorf(http.StatusUnprocessableEntity, ve.Field, ve.Error())
		}
		return errorf(http.StatusUnprocessableEntity, "", err.Error())
	}
	return nil
}

// checkName validates a webhook's optional name: at most 255 bytes, no control
// characters, no leading or trailing space (it is a key: "a" and "a " would look alike in
// a plan). Its uniqueness in the space is the store's (matcher.ErrNameTaken: 409).
func checkName(name string) *apiError {
	switch {
	case len(name) > maxNameBytes:
		return invalid("name", "longer than %d bytes", maxNameBytes)
	case strings.ContainsFunc(name, isControl):
		return invalid("name", "%s contains a control character", shorten(name))
	case strings.TrimSpace(name) != name:
		return invalid("name", "%s starts or ends with white space", shorten(name))
	}
	return nil
}

// checkAuth validates the Basic auth credentials of deliveries; messages never repeat the
// password.
func checkAuth(wh *matcher.Webhook) *apiError {
	u, p := wh.HTTPAuthUser, wh.HTTPAuthPassword
	switch {
	case len(u) > maxAuthBytes:
		return invalid("http_auth_user", "longer than %d bytes", maxAuthBytes)
	case strings.ContainsRune(u, ':'):
		return invalid("http_auth_user", "%s contains ':', which Basic auth cannot carry", shorten(u))
	case strings.ContainsFunc(u, isControl):
		return invalid("http_auth_user", "%s contains a control character", shorten(u))
	case len(p) > maxAuthBytes:
		return invalid("http_auth_password", "longer than %d bytes", maxAuthBytes)
	case strings.ContainsFunc(p, isControl):
		return invalid("http_auth_password", "contains a control character")
	case p != "" && u == "":
		return invalid("http_auth_password", "set without http_auth_user")
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// defaultResolver is used when Config.Resolver is nil.
func defaultResolver() Resolver { return &net.Resolver{} }

// Bounds of the static headers.
const (
	maxHeaders          = 20
	maxHeaderValueBytes = 4096
)

// reservedHeaders are set by walhook itself on every delivery; a static header may not
// replace them.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "User-Agent", "Authorization",
	"WebHook-Signature", "WebHook-Signature-Previous", "Webhook-Id", "Webhook-Timestamp", "Connection",
	"Transfer-Encoding", "Content-Encoding", "Expect", "Walhook-Test"}

// checkHeaders validates static headers: HTTP token names, no walhook-set header, values
// without control characters.
func checkHeaders(h map[string]string) *apiError {
	if len(h) > maxHeaders {
		return invalid("headers", "%d headers, at most %d", len(h), maxHeaders)
	}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		field := "headers." + name
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
			return invalid(field, "%s is not a valid header name", shorten(name))
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				return invalid(field, "%s is set by walhook on every delivery and cannot be replaced (use http_auth_user/http_auth_password for Basic auth)", r)
			}
		}
		v := h[name]
		if len(v) > maxHeaderValueBytes || strings.ContainsAny(v, "\r\n\x00") {
			return invalid(field, "the value must be at most %d bytes, without line breaks or NUL", maxHeaderValueBytes)
		}
	}
	return nil
}

// isTokenChar reports RFC 9110's tchar.
func isTokenChar(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}
