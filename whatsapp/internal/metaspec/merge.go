package metaspec

import (
	"maps"
	"reflect"
	"slices"
	"strings"
)

const componentRef = "#/components/schemas/"

// merger folds allOf into single schemas, component by component, on the raw document.
type merger struct {
	schemas map[string]any
	done    map[string]bool
	busy    map[string]bool // components being merged (a cycle leaves its $ref alone)
}

// mergeAllOf replaces, everywhere in the component schemas, a schema with allOf by one object
// schema: the members' properties united (a property in several members gets every member's
// constraints), their required lists united, and additionalProperties false when any member
// says so. Keywords other than those, when two members set them differently, stay as an allOf
// of the remaining constraints, which is what allOf means for them.
//
// A component with a discriminator and no oneOf is a parent in OpenAPI's inheritance style (its
// children are allOf(parent, ...) and named in the mapping); JSON Schema validators ignore the
// discriminator, so the parent would accept any child's fields. Once the children are merged,
// the parent becomes a oneOf of its children.
func mergeAllOf(schemas map[string]any) {
	m := &merger{schemas: schemas, done: map[string]bool{}, busy: map[string]bool{}}
	names := make([]string, 0, len(schemas))
	for n := range schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	parents := map[string]map[string]any{}
	for _, n := range names {
		s, _ := schemas[n].(map[string]any)
		if _, ok := s["oneOf"]; ok {
			continue
		}
		if d, ok := s["discriminator"].(map[string]any); ok && dig(d, "mapping") != nil {
			parents[n] = d
		}
	}
	for _, n := range names {
		m.component(n)
	}
	for _, p := range slices.Sorted(maps.Keys(parents)) {
		d := parents[p]
		var children []string
		for _, v := range dig(d, "mapping") {
			ref, _ := v.(string)
			c := strings.TrimPrefix(ref, componentRef)
			if cs, ok := schemas[c].(map[string]any); ok && c != p && strings.HasPrefix(ref, componentRef) {
				delete(cs, "discriminator") // the parent's, copied in by the merge
				children = append(children, c)
			}
		}
		slices.Sort(children)
		one := make([]any, 0, len(children))
		for _, c := range children {
			one = append(one, map[string]any{"$ref": componentRef + c})
		}
		schemas[p] = map[string]any{"oneOf": one, "discriminator": d}
	}
}

func (m *merger) component(name string) map[string]any {
	s, _ := m.schemas[name].(map[string]any)
	if s == nil || m.done[name] || m.busy[name] {
		return s
	}
	m.busy[name] = true
	s = m.node(s)
	m.schemas[name] = s
	delete(m.busy, name)
	m.done[name] = true
	return s
}

// node merges the allOfs inside s (not following $refs, which are merged as components).
func (m *merger) node(s map[string]any) map[string]any {
	for _, k := range []string{"items", "additionalProperties", "not"} {
		if c, ok := s[k].(map[string]any); ok {
			s[k] = m.node(c)
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for k, v := range props {
			if c, ok := v.(map[string]any); ok {
				props[k] = m.node(c)
			}
		}
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		if list, ok := s[k].([]any); ok {
			for i, v := range list {
				if c, ok := v.(map[string]any); ok {
					list[i] = m.node(c)
				}
			}
		}
	}
	all, ok := s["allOf"].([]any)
	if !ok {
		return s
	}
	rest := map[string]any{}
	for k, v := range s {
		if k != "allOf" {
			rest[k] = v
		}
	}
	var out map[string]any
	for _, v := range all {
		member, _ := v.(map[string]any)
		if member == nil {
			continue
		}
		member = m.resolve(member)
		if out == nil {
			out = copyMap(member)
			continue
		}
		out = m.merge(out, member)
	}
	if out == nil {
		return rest
	}
	if len(rest) > 0 {
		out = m.merge(out, rest)
	}
	return out
}

// resolve returns the merged component a lone $ref points to, else the member merged in place.
func (m *merger) resolve(member map[string]any) map[string]any {
	if ref, ok := member["$ref"].(string); ok && len(member) == 1 && strings.HasPrefix(ref, componentRef) {
		name := strings.TrimPrefix(ref, componentRef)
		if m.busy[name] {
			return member
		}
		if c := m.component(name); c != nil {
			return copyMap(c)
		}
		return member
	}
	return m.node(member)
}

// merge adds b's constraints to a (a is a private copy and is modified).
func (m *merger) merge(a, b map[string]any) map[string]any {
	var extra map[string]any // b's keywords that clash with a's: kept as an allOf member
	for k, bv := range b {
		av, has := a[k]
		switch {
		case !has:
			a[k] = deepCopy(bv)
		case reflect.DeepEqual(av, bv):
		case k == "properties":
			ap, _ := av.(map[string]any)
			bp, _ := bv.(map[string]any)
			for name, pb := range bp {
				pa, ok := ap[name]
				switch {
				case !ok:
					ap[name] = deepCopy(pb)
				case reflect.DeepEqual(pa, pb):
				default:
					ap[name] = m.node(map[string]any{"allOf": []any{pa, deepCopy(pb)}})
				}
			}
		case k == "required":
			ar, _ := av.([]any)
			br, _ := bv.([]any)
			for _, r := range br {
				if !slices.Contains(ar, r) {
					ar = append(ar, r)
				}
			}
			a[k] = ar
		case k == "additionalProperties":
			if av == false || bv == false {
				a[k] = false
			}
		case k == "description" || k == "example" || k == "examples" || k == "title":
			// annotations: the first member's stay
		default:
			if extra == nil {
				extra = map[string]any{}
			}
			extra[k] = deepCopy(bv)
		}
	}
	if extra != nil {
		list, _ := a["allOf"].([]any)
		a["allOf"] = append(list, extra)
	}
	return a
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

func copyMap(m map[string]any) map[string]any { return deepCopy(m).(map[string]any) }
