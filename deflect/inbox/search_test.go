package inbox

import (
	"testing"
)

func TestSearchConversations(t *testing.T) {
	h := newHarness(t, nil)
	for _, n := range []string{"966501230601", "966501230602"} {
		h.deflected("+"+n, "en")
	}
	h.sb.SetProfileName("966501230601", "Fatima Al-Harbi")
	h.text("966501230601", "hello")
	h.text("966501230602", "hi")
	tests := []struct {
		name, q string
		want    []string
	}{
		{"part of the number", "230602", []string{"966501230602"}},
		{"number with plus and spaces", "+966 50 123 0601", []string{"966501230601"}},
		{"profile name, any case", "fatima", []string{"966501230601"}},
		{"customer id", "cust-77", []string{"966501230601", "966501230602"}},
		{"nothing", "zzz", nil},
		{"empty query", " ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.in.Search(t.Context(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, s := range got {
				ids[s.ID] = true
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Search(%q) = %d results %v, want %v", tc.q, len(got), ids, tc.want)
			}
			for _, w := range tc.want {
				if !ids[w] {
					t.Fatalf("Search(%q) lacks %s: %v", tc.q, w, ids)
				}
			}
		})
	}
}
