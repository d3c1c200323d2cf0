package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/walhook/walhook/event"
)

// KnownActions is the vocabulary of transition and link actions (DESIGN.md §3). A
// transition or link whose action is not in it, nor declared under the file's top-level
// `actions:` list, is an error naming the closest known word: `Wonn` is a typo of Won,
// never silently a new event Opportunity.Wonn that no webhook would ever ask for.
var KnownActions = []event.Action{
	"Move", "Won", "Lost", "Qualify", "BackToLead", event.ActionDocumentLinked, event.ActionComment,
}

// buildActions checks the file's declared actions (new words, opted into explicitly).
func buildActions(ys []name, p *problems) []event.Action {
	var out []event.Action
	for i, y := range ys {
		a := event.Action(y)
		where := fmt.Sprintf("actions[%d]", i)
		switch {
		case a == "":
			p.addf("%s: empty action", where)
		case !identRE.MatchString(string(a)):
			p.addf("%s: %q must be an identifier", where, a)
		case rowActions[a]:
			p.addf("%s: %s is raised by every row change; declare only new words", where, a)
		case slices.Contains(KnownActions, a):
			p.addf("%s: %s is already a known action; declare only new words", where, a)
		case slices.Contains(out, a):
			p.addf("%s: %s is declared twice", where, a)
		default:
			out = append(out, a)
		}
	}
	return out
}

// checkActions reports, after the file's actions are known, every transition or link action
// that is neither known nor declared.
func checkActions(m *Mapping, p *problems) {
	for _, e := range m.Entities {
		for i, tr := range e.Transitions {
			checkDeclared(m, fmt.Sprintf("entity %s: transitions[%d].action", e.Name, i), tr.Action, p)
		}
	}
	for i, l := range m.Links {
		checkDeclared(m, linkLabel(i, l.Table.String())+": action", l.Action, p)
	}
}

func checkDeclared(m *Mapping, where string, a event.Action, p *problems) {
	if a == "" || !identRE.MatchString(string(a)) || rowActions[a] || slices.Contains(KnownActions, a) || slices.Contains(m.Actions, a) {
		return
	}
	vocab := append(slices.Clone(KnownActions), m.Actions...)
	words := make([]string, len(vocab))
	for i, v := range vocab {
		words[i] = string(v)
	}
	if best := closest(string(a), words); best != "" {
		p.addf("%s: unknown action %q; did you mean %s? (a new word must be declared under the top-level actions: list)", where, a, best)
		return
	}
	p.addf("%s: unknown action %q (known: %s); declare a new word under the top-level actions: list", where, a, strings.Join(words, ", "))
}

// checkAction reports an empty, malformed or row action of a transition or link.
func checkAction(where, a, what string, p *problems) {
	switch {
	case a == "":
		p.addf("%s: required", where)
	case !identRE.MatchString(a):
		p.addf("%s: %q must be an identifier", where, a)
	case rowActions[event.Action(a)]:
		p.addf("%s: %s is raised by every row change; a %s needs its own action", where, a, what)
	}
}

// closest returns the word of words nearest to w (case-insensitive edit distance), or ""
// when none is near enough to be a plausible typo: at most 2 edits, and fewer than half
// the word.
func closest(w string, words []string) string {
	best, bestD := "", 1<<30
	lw := strings.ToLower(w)
	for _, c := range words {
		d := editDistance(lw, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if bestD == 0 || (bestD <= 2 && bestD*2 < len(w)+1) || strings.EqualFold(best, w) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes; action names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
