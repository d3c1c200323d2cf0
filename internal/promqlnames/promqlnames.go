// Package promqlnames finds the metric names a PromQL expression selects, for tests that
// check that dashboards and alerting rules query only metrics walhook exports.
//
// It is a scanner, not a parser: it removes what cannot be a metric name (strings, Grafana
// variables, label matchers, ranges, grouping label lists) and keeps the identifiers that
// are not PromQL keywords, aggregators or called functions. It reports unbalanced brackets,
// unterminated strings, selectors by __name__ and calls of unknown functions as errors, so
// a typo fails instead of passing as a metric. Prometheus's own parser would do more but
// brings the whole Prometheus module with it; promtool checks the syntax of the rules.
package promqlnames

import (
	"fmt"
	"strings"
)

// PromQL's words: an identifier of an expression that is none of these is a metric name
// (label names are removed before). Functions count only when called: "time" alone is a
// metric, "time()" is not.
var (
	promqlKeywords = words(`by without on ignoring group_left group_right offset bool and or unless
		atan2 inf nan`)
	promqlAggregators = words(`sum avg min max count stddev stdvar topk bottomk quantile count_values
		group limitk limit_ratio`)
	promqlFunctions = words(`abs absent absent_over_time ceil changes clamp clamp_max clamp_min
		day_of_month day_of_week day_of_year days_in_month delta deriv exp floor histogram_avg
		histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
		histogram_sum double_exponential_smoothing holt_winters hour idelta increase irate
		label_join label_replace ln log2 log10 minute month predict_linear rate resets round scalar
		sgn sort sort_desc sort_by_label sort_by_label_desc sqrt time timestamp vector year
		avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time
		stddev_over_time stdvar_over_time last_over_time present_over_time mad_over_time
		acos acosh asin asinh atan atanh cos cosh sin sinh tan tanh deg rad pi start end info`)
	// groupingKeywords take a parenthesised list of label names.
	groupingKeywords = words(`by without on ignoring group_left group_right`)
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// Names returns the metric names an expression selects, in order. It removes string
// literals, Grafana variables, label matchers {…}, ranges and subqueries […] and the label
// lists of by/without/on/ignoring/group_left/group_right, then keeps the identifiers that
// are not PromQL keywords, aggregators or called functions. An identifier called like a
// function must be a known function, so a typo fails instead of passing as a metric.
func Names(expr string) ([]string, error) {
	out, err := blankOut(expr)
	if err != nil {
		return nil, err
	}
	return identifiers(out, expr)
}

// blankOut returns expr with its string literals, Grafana variables, {…} and […] each
// replaced by one space.
func blankOut(expr string) ([]byte, error) {
	s := []byte(expr)
	var out []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			out = append(out, ' ')
			i = j
		case '$':
			j := i + 1
			if j < len(s) && s[j] == '{' {
				k := strings.IndexByte(expr[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated ${ in %q", expr)
				}
				j += k + 1
			} else {
				for j < len(s) && isIdentByte(s[j], false) {
					j++
				}
			}
			out = append(out, ' ')
			i = j - 1
		case '{', '[':
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == c {
					depth++
				} else if s[j] == closer {
					if depth--; depth == 0 {
						break
					}
				} else if s[j] == '"' || s[j] == '\'' || s[j] == '`' {
					q := s[j]
					for j++; j < len(s) && s[j] != q; j++ {
						if s[j] == '\\' && q != '`' {
							j++
						}
					}
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unbalanced %c in %q", c, expr)
			}
			if c == '{' && strings.Contains(string(s[i:j]), "__name__") {
				return nil, fmt.Errorf("selector by __name__ in %q: name the metric instead", expr)
			}
			out = append(out, ' ')
			i = j
		case '}', ']':
			return nil, fmt.Errorf("unbalanced %c in %q", c, expr)
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// identifiers returns the metric names among the tokens of out, what blankOut left of expr.
func identifiers(out []byte, expr string) ([]string, error) {
	var names []string
	depth := 0
	for i := 0; i < len(out); {
		c := out[i]
		switch {
		case c == '(' || c == ')':
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				return nil, fmt.Errorf("unbalanced ) in %q", expr)
			}
			i++
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(out) && out[i+1] >= '0' && out[i+1] <= '9':
			// A number or duration: 0.99, 1e3, 0x1f, 5m, 1h30m.
			for i < len(out) && (isIdentByte(out[i], false) || out[i] == '.') {
				i++
			}
		case isIdentByte(c, true):
			j := i
			for j < len(out) && isIdentByte(out[j], false) {
				j++
			}
			word := string(out[i:j])
			k := j
			for k < len(out) && (out[k] == ' ' || out[k] == '\t' || out[k] == '\n' || out[k] == '\r') {
				k++
			}
			called := k < len(out) && out[k] == '('
			lower := strings.ToLower(word)
			switch {
			case groupingKeywords[lower] && called:
				end := strings.IndexByte(string(out[k:]), ')')
				if end < 0 {
					return nil, fmt.Errorf("unbalanced ( after %s in %q", word, expr)
				}
				if list := string(out[k+1 : k+end]); strings.Trim(list, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_, \t\n") != "" {
					return nil, fmt.Errorf("%s takes a list of label names, not %q, in %q", word, list, expr)
				}
				j = k + end + 1 // skip the label list
			case promqlKeywords[lower] || promqlAggregators[lower]:
			case called && !promqlFunctions[lower]:
				return nil, fmt.Errorf("unknown function %s in %q", word, expr)
			case called:
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	return names, nil
}

func isIdentByte(c byte, first bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || !first && c >= '0' && c <= '9'
}
