package whatsapp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/templatesync"
	"github.com/deflectd/deflectd/whatsapp/internal/metaspec"
)

// TestConformanceTemplateCreation: the creation body of every built-in template language, as
// the client posts it to a Graph stand-in, conforms to the template creation schema of Meta's
// document (strict: no field it does not name), and renaming any field of it fails.
func TestConformanceTemplateCreation(t *testing.T) {
	strict := strictSpec(t)
	defs, err := configs.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"594425479261596","status":"PENDING","category":"UTILITY"}`))
	}))
	defer srv.Close()
	c := sandboxClient(t, srv.URL+"/v23.0", nil, nil)
	mts := templatesync.MessageTemplates(defs)
	if len(mts) == 0 {
		t.Fatal("no built-in templates")
	}
	for i, mt := range mts {
		if _, err := c.CreateTemplate(t.Context(), "102290129340398", mt); err != nil {
			t.Fatalf("%s/%s: %v", mt.Name, mt.Language, err)
		}
		body := got[i]
		t.Run(mt.Name+"/"+mt.Language, func(t *testing.T) {
			if err := metaspec.Check(func(s *metaspec.Spec) error { return s.ValidateRequest(metaspec.TemplatesPath, body) }); err != nil {
				t.Fatalf("%s %s", body, firstLine(err))
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			for _, p := range metaspec.KeyPaths(v) {
				mutated, _ := json.Marshal(metaspec.RenameKey(v, p))
				if err := strict.ValidateRequest(metaspec.TemplatesPath, mutated); err == nil {
					t.Errorf("renaming %s still conforms: %s", p, mutated)
				}
			}
		})
	}
}
