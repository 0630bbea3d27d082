package configs

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// flatten maps every leaf key of a marshalled Config to its value (lists and maps as YAML flow).
func flatten(t *testing.T, c Config) map[string]string {
	t.Helper()
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind == yaml.MappingNode && !isMapKey(prefix) {
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(join(prefix, n.Content[i].Value), n.Content[i+1])
			}
			return
		}
		n.Style = yaml.FlowStyle
		b, err := yaml.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		out[prefix] = strings.TrimSpace(string(b))
	}
	walk("", doc.Content[0])
	return out
}

// isMapKey: keys whose value is a map of user-chosen names, compared whole.
func isMapKey(key string) bool {
	switch key {
	case "deflect.queues", "deflect.template.languages", "ivr.region_languages", "inbox.canned":
		return true
	}
	return false
}

// TestExampleShowsDefaults: the example says "every key is shown with its default unless
// noted": a value that differs from the code's default must say so on its line ("default"
// in the comment, e.g. "(default text)").
func TestExampleShowsDefaults(t *testing.T) {
	ex, err := Load("deflectd.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("deflectd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	at := keyLines(data)
	def, got := flatten(t, Default()), flatten(t, ex)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] == def[k] {
			continue
		}
		n, ok := at[k]
		if !ok {
			t.Errorf("%s differs from the default (%s) but has no line in the example", k, def[k])
			continue
		}
		if !strings.Contains(strings.ToLower(lines[n-1]), "default") {
			t.Errorf("deflectd.example.yaml:%d: %s is %s, the default is %s: say so on the line", n, k, got[k], def[k])
		}
	}
}
