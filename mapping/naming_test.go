package mapping

import "testing"

func TestPluralSnake(t *testing.T) {
	tests := map[string]string{
		"ContactTaskRelation":  "contact_task_relations",
		"Opportunity":          "opportunities",
		"Lead":                 "leads",
		"CE_Bid":               "ce_bids",
		"CE_Campaign":          "ce_campaigns",
		"SalesUnit":            "sales_units",
		"HTTPLog":              "http_logs",
		"Address":              "addresses",
		"Box":                  "boxes",
		"Batch":                "batches",
		"Day":                  "days",
		"OpptyProductRelation": "oppty_product_relations",
		"Step2Go":              "step2_gos",
		"x":                    "xes",
	}
	for in, want := range tests {
		if got := pluralSnake(in); got != want {
			t.Errorf("pluralSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestManyToOneName(t *testing.T) {
	tests := map[string]string{
		"primary_account_id": "primary_account",
		"owner_id":           "owner",
		"currency":           "currency",
		"_id":                "_id",
		"id":                 "id",
	}
	for in, want := range tests {
		if got := manyToOneName(in); got != want {
			t.Errorf("manyToOneName(%q) = %q, want %q", in, got, want)
		}
	}
}
