// Package seal encrypts secrets at rest (webhook signatures, Basic-auth passwords, static
// headers) with AES-256-GCM under a key derived from WALHOOK_SECRET_KEY.
//
// A sealed value is "enc:v1:" followed by the base64 of a random 12-byte nonce and the
// ciphertext with its tag; Open passes any other value through unchanged, so secrets
// stored before a key was configured keep working and are sealed at their next write.
// Values are bound to what they are (the additional data names the field), so a sealed
// password cannot be moved into the signature column.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a sealed value.
const Prefix = "enc:v1:"

// MinKeyBytes is the shortest WALHOOK_SECRET_KEY accepted: 32 bytes, such as the output of
// "openssl rand -base64 32".
const MinKeyBytes = 32

// ErrOpen is wrapped by Open's errors: a sealed value that this key cannot open (another
// key, or a damaged value).
var ErrOpen = errors.New("cannot open sealed value")

// Sealer seals and opens values. A nil *Sealer seals nothing and opens only plain values.
type Sealer struct {
	aead cipher.AEAD
}

// New derives the AES-256 key from secret (at least MinKeyBytes bytes) with HKDF-SHA256.
func New(secret string) (*Sealer, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("secret key: %d bytes, want at least %d (e.g. openssl rand -base64 32)", len(secret), MinKeyBytes)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "walhook secrets v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns plain sealed for field, or plain itself when s is nil or plain is empty.
func (s *Sealer) Seal(field, plain string) string {
	if s == nil || plain == "" {
		return plain
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand panics rather)
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(field))
	return Prefix + base64.RawStdEncoding.EncodeToString(out)
}

// Open returns the plain value of stored (sealed for field, or plain).
func (s *Sealer) Open(field, stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, Prefix)
	if !ok {
		return stored, nil
	}
	if s == nil {
		return "", fmt.Errorf("%s: %w: it is sealed and WALHOOK_SECRET_KEY is not set", field, ErrOpen)
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", fmt.Errorf("%s: %w: malformed", field, ErrOpen)
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(field))
	if err != nil {
		return "", fmt.Errorf("%s: %w: wrong WALHOOK_SECRET_KEY or damaged value", field, ErrOpen)
	}
	return string(plain), nil
}
