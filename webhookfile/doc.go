// Package webhookfile is webhooks as reviewable config ("walhook apply", DESIGN.md §14):
// it reads a YAML file of named webhooks, plans what makes the stored webhooks match it,
// prints the plan and applies it.
//
// The file:
//
//	space: sales                 # optional: the space of the webhooks that name none
//	webhooks:
//	  - name: orders-won         # required, unique in its space: the key
//	    space: sales             # optional when set at the top
//	    url: https://erp.example.com/hooks/walhook
//	    events: [Opportunity.Won]
//	    signature: ${ERP_SIGNATURE}
//	    options: {chunk_size: 50}
//
// Every field of the webhook API's create body is accepted (url, events, insecure_ssl,
// signature, options, http_auth_user, http_auth_password, signing, headers, timeout) and
// validated by the API's own rules (a Checker: (*api.API).CheckCreate), so a file is
// accepted exactly when POSTing each webhook would be.
//
// Guarantees:
//   - Parse validates every entry before anything is planned, and reports every invalid
//     one, each naming the file's line, the entry's name and the field.
//   - ${NAME} in a string value is replaced by the environment variable NAME ($${ is a
//     literal ${), so secrets need not be committed; an unset variable is an error naming
//     it. Values taken from the environment are masked in messages.
//   - Only managed webhooks (Managed: live, named, with a space, not Pipedrive's) take
//     part in a plan: webhooks without a name are never touched, and managed webhooks the
//     file does not name are deleted only when pruning.
//   - Applying a file twice changes nothing the second time: NewPlan compares normalised
//     fields (Diff), and an unchanged webhook is not written (its modified time stays).
//   - A plan prints field names, never values: no secret reaches its output.
package webhookfile
