package metaspec

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// KeyPaths lists the path of every object key in a decoded JSON value, parents first
// ("template", "template.components", "template.components[1].index", ...).
func KeyPaths(v any) []string { return keyPaths(v, "") }

func keyPaths(v any, prefix string) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, p)
			out = append(out, keyPaths(t[k], p)...)
		}
	case []any:
		for i, x := range t {
			out = append(out, keyPaths(x, prefix+"["+strconv.Itoa(i)+"]")...)
		}
	}
	return out
}

// RenameKey returns a copy of v with the key at path (from KeyPaths) renamed: an "x" appended,
// the misspelling a conformance check must catch.
func RenameKey(v any, path string) any {
	b, _ := json.Marshal(v)
	var cp any
	_ = json.Unmarshal(b, &cp)
	cur := cp
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		key, idx := seg, []int(nil)
		if j := strings.IndexByte(seg, '['); j >= 0 {
			key = seg[:j]
			for _, n := range strings.Split(strings.Trim(seg[j:], "[]"), "][") {
				k, _ := strconv.Atoi(n)
				idx = append(idx, k)
			}
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return cp
		}
		if i == len(segs)-1 {
			m[key+"x"] = m[key]
			delete(m, key)
			return cp
		}
		cur = m[key]
		for _, k := range idx {
			if a, ok := cur.([]any); ok && k < len(a) {
				cur = a[k]
			}
		}
	}
	return cp
}
