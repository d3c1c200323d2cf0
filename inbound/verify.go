package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verification types of Verify.Type.
const (
	VerifyStandard = "standard-webhooks"
	VerifyHMAC     = "hmac-sha256"
)

// standardTolerance is how far a Standard Webhooks timestamp may be from now.
const standardTolerance = 5 * time.Minute

// Verify is an inbound webhook's signature check: Standard Webhooks with a "whsec_"
// secret, or the hex HMAC-SHA256 of the body, keyed with Secret, in the named Header
// (an optional "sha256=" prefix, as GitHub sends it, is accepted).
type Verify struct {
	Type   string `json:"type"`
	Header string `json:"header,omitempty"`
	Secret string `json:"secret"`
}

// errSignature is a call whose signature does not verify; its text is shown to the caller.
var errSignature = errors.New("signature")

// check validates the configuration; the error names the field.
func (v *Verify) check() error {
	switch v.Type {
	case VerifyStandard:
		if _, err := standardKey(v.Secret); err != nil {
			return fmt.Errorf("verify.secret: %w", err)
		}
		if v.Header != "" {
			return errors.New("verify.header: not used by standard-webhooks (it reads webhook-signature)")
		}
	case VerifyHMAC:
		if v.Header == "" {
			return errors.New("verify.header: required for hmac-sha256 (the header holding the signature, e.g. X-Signature)")
		}
		if v.Secret == "" {
			return errors.New("verify.secret: required")
		}
	default:
		return fmt.Errorf("verify.type: %q is not %q or %q", v.Type, VerifyStandard, VerifyHMAC)
	}
	return nil
}

// masked returns v with its secret shown by its last four characters only.
func (v *Verify) masked() *Verify {
	if v == nil {
		return nil
	}
	m := *v
	if n := len(m.Secret); n > 8 {
		m.Secret = "****" + m.Secret[n-4:]
	} else {
		m.Secret = "****"
	}
	return &m
}

func standardKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New(`must start with "whsec_" followed by base64`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New(`must be "whsec_" followed by base64`)
	}
	return key, nil
}

// verify checks a call's signature; the error wraps errSignature and says what is wrong
// without showing any expected value.
func (v *Verify) verify(h http.Header, body []byte, now time.Time) error {
	switch v.Type {
	case VerifyStandard:
		return verifyStandard(v.Secret, h, body, now)
	case VerifyHMAC:
		got := strings.TrimSpace(h.Get(v.Header))
		got = strings.TrimPrefix(got, "sha256=")
		sig, err := hex.DecodeString(got)
		if got == "" || err != nil {
			return fmt.Errorf("%w: header %s must hold the hex HMAC-SHA256 of the body", errSignature, v.Header)
		}
		mac := hmac.New(sha256.New, []byte(v.Secret))
		mac.Write(body)
		if !hmac.Equal(sig, mac.Sum(nil)) {
			return fmt.Errorf("%w: header %s does not match the body", errSignature, v.Header)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown verification %q", errSignature, v.Type)
}

func verifyStandard(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := standardKey(secret)
	if err != nil {
		return fmt.Errorf("%w: the inbound webhook's secret is unusable", errSignature)
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" || h.Get("webhook-signature") == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", errSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not Unix seconds", errSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > standardTolerance || d < -standardTolerance {
		return fmt.Errorf("%w: webhook-timestamp is more than %s away from now", errSignature, standardTolerance)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, part := range strings.Fields(h.Get("webhook-signature")) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature in webhook-signature matches", errSignature)
}
