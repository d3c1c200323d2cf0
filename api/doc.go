// Package api serves walhook's Pipeliner-compatible webhook REST API (DESIGN.md §4):
// create, list, read, update and delete webhooks under
// /api/v100/rest/spaces/{space_id}/entities/Webhooks, their delivery log, dead letters and
// redelivery, pause and resume (DESIGN.md §14), the signing key (GET …/{id}/secret), and
// the OpenAPI document at /api/openapi.json.
//
// Guarantees:
//   - Every call but the OpenAPI document needs a configured token, as
//     "Authorization: Bearer <token>" or as the password of Basic auth; tokens are compared
//     in constant time. Otherwise: 401.
//   - Bodies are limited (1 MiB by default; 413 beyond). Every input is validated before
//     anything is stored, and every problem is a 4xx whose message names the field and the
//     value — no input yields a 5xx; only database failures do.
//   - Responses use the envelope {"success": true, "data": …}; errors
//     {"success": false, "code": <HTTP status>, "field": …, "message": …}.
//   - events and options are returned exactly as they were sent. http_auth_password is
//     never returned (it reads "********") and, like signature and tokens, never logged.
//   - signature is returned in full only by create; every other webhook response shows
//     its first four characters and "…" (DESIGN.md §15), and sent back so in a PATCH it
//     keeps the stored key. GET …/{id}/secret reads it.
//   - Every webhook response carries status (active, paused, disabled) and
//     disabled_reason; pause and resume change the status, and resume also re-enables a
//     webhook the sender disabled (as PATCH "disabled_at": null does).
//
// The handler does no I/O until it serves a request; New only builds it.
package api
