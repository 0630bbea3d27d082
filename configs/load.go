package configs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment override: DEFLECTD_SIP_LISTEN overrides sip.listen.
const EnvPrefix = "DEFLECTD_"

var durationType = reflect.TypeOf(time.Duration(0))

// Load returns Default(), overlaid with the YAML file (if path is not empty), then with the
// environment, then validated. Every error names the key (and the file line for YAML).
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	var lines map[string]int
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(path, data, &cfg); err != nil {
			return cfg, err
		}
		lines = keyLines(data)
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, locate(err, path, lines, environ)
	}
	return cfg, nil
}

// keyLines maps every key path of a YAML document ("sip.listen", "sip.listen[0]",
// "deflect.queues.billing.min_wait") to its line.
func keyLines(data []byte) map[string]int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	lines := map[string]int{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := join(prefix, n.Content[i].Value)
				lines[key] = n.Content[i].Line
				walk(key, n.Content[i+1])
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				key := fmt.Sprintf("%s[%d]", prefix, i)
				lines[key] = item.Line
				walk(key, item)
			}
		}
	}
	walk("", doc.Content[0])
	return lines
}

// locate says where each invalid value came from: the environment variable that set it (or a
// parent of it), else the config file's line for the key (or its nearest parent).
func locate(err error, path string, lines map[string]int, environ []string) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	env := map[string]bool{}
	for _, kv := range environ {
		if name, _, ok := strings.Cut(kv, "="); ok {
			env[name] = true
		}
	}
	for _, e := range joined.Unwrap() {
		var ke *KeyError
		if !errors.As(e, &ke) {
			continue
		}
		for key := ke.Key; key != ""; key = parentKey(key) {
			if name := EnvName(strings.Split(key, "[")[0]); env[name] {
				ke.Source = name
				break
			}
			if line, ok := lines[key]; ok {
				ke.Source = fmt.Sprintf("%s:%d", path, line)
				break
			}
		}
	}
	return err
}

// parentKey is "a.b" for "a.b.c" and "a.b[2]", "" for "a".
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return ""
}

// decodeYAML checks the document against the Config type first, so that an unknown key or a
// wrong type is reported as "file:line: key.path: problem", then decodes it over cfg.
func decodeYAML(path string, data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 { // empty file: defaults
		return nil
	}
	root := doc.Content[0]
	if errs := checkNode(path, "", root, reflect.TypeOf(*cfg)); len(errs) > 0 {
		return errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func checkNode(file, key string, n *yaml.Node, t reflect.Type) []error {
	fail := func(format string, a ...any) []error {
		name := key
		if name == "" {
			name = "(top level)"
		}
		return []error{fmt.Errorf("%s:%d: %s: %s", file, n.Line, name, fmt.Sprintf(format, a...))}
	}
	if n.Kind == yaml.AliasNode {
		return checkNode(file, key, n.Alias, t)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("expected a mapping of keys, got %s", describe(n))
		}
		fields := yamlFields(t)
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(key, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: %s: unknown key", file, k.Line, child))
				continue
			}
			errs = append(errs, checkNode(file, child, v, f.Type)...)
		}
		return errs
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("expected a mapping, got %s", describe(n))
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, checkNode(file, join(key, n.Content[i].Value), n.Content[i+1], t.Elem())...)
		}
		return errs
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("expected a list, got %s", describe(n))
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, checkNode(file, fmt.Sprintf("%s[%d]", key, i), c, t.Elem())...)
		}
		return errs
	default:
		if n.Kind != yaml.ScalarNode {
			return fail("expected a single value (%s), got %s", typeName(t), describe(n))
		}
		if err := parseScalar(n.Value, t); err != nil {
			return fail("%v", err)
		}
		return nil
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 5s or 2m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	default:
		return "a string"
	}
}

// parseScalar checks (and, through set, stores) one textual value for a field of type t.
func parseScalar(s string, t reflect.Type) error {
	v := reflect.New(t).Elem()
	return setScalar(v, s)
}

func setScalar(v reflect.Value, s string) error {
	t := v.Type()
	bad := func() error { return fmt.Errorf("%q is not %s", s, typeName(t)) }
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		v.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return bad()
		}
		v.SetInt(i)
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		i, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
		if err != nil {
			return bad()
		}
		v.SetUint(i)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
		if err != nil {
			return bad()
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := yamlName(f); name != "" {
			m[name] = f
		}
	}
	return m
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Keys lists every configuration key (dotted path) with its environment variable name.
func Keys() [][2]string {
	var out [][2]string
	walkType(reflect.TypeOf(Config{}), "", func(key string, _ reflect.Type) {
		out = append(out, [2]string{key, EnvName(key)})
	})
	return out
}

// EnvName maps a key path to its environment variable: sip.listen → DEFLECTD_SIP_LISTEN.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func walkType(t reflect.Type, prefix string, fn func(key string, t reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		key := join(prefix, name)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			walkType(f.Type, key, fn)
			continue
		}
		fn(key, f.Type)
	}
}

// applyEnv overlays DEFLECTD_* variables. Scalars are parsed as their type; a list of strings is
// comma-separated; any other list or map is YAML flow syntax ("[...]" or "{k: v}") .
func applyEnv(cfg *Config, environ []string) error {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		return nil
	}
	known := map[string]bool{}
	var errs []error
	root := reflect.ValueOf(cfg).Elem()
	walkType(root.Type(), "", func(key string, _ reflect.Type) {
		name := EnvName(key)
		known[name] = true
		val, ok := env[name]
		if !ok {
			return
		}
		if err := setEnvValue(fieldByKey(root, key), val); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", key, name, err))
		}
	})
	for name := range env {
		if !known[name] && !commandEnv[strings.TrimPrefix(name, EnvPrefix)] {
			errs = append(errs, fmt.Errorf("%s: unknown environment variable (no such config key)", name))
		}
	}
	return errors.Join(errs...)
}

func fieldByKey(v reflect.Value, key string) reflect.Value {
	for _, part := range strings.Split(key, ".") {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if yamlName(t.Field(i)) == part {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

func setEnvValue(v reflect.Value, s string) error {
	switch {
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(s), "["):
		parts := []string{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		sl := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			sl.Index(i).SetString(p)
		}
		v.Set(sl)
		return nil
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Map:
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			return fmt.Errorf("not valid YAML flow syntax: %w", err)
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		if errs := checkNode("env", "", n.Content[0], v.Type()); len(errs) > 0 {
			return errors.Join(errs...)
		}
		nv := reflect.New(v.Type())
		if err := n.Content[0].Decode(nv.Interface()); err != nil {
			return err
		}
		v.Set(nv.Elem())
		return nil
	default:
		return setScalar(v, s)
	}
}

// Marshal renders the effective config as YAML in struct order, durations as text and secrets
// redacted: what `deflectd config print` shows.
func (c Config) Marshal() ([]byte, error) {
	n := toNode(reflect.ValueOf(c))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

func toNode(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case t == reflect.TypeOf(Secret("")):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.Interface().(Secret).mask()}
	case t == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(v.Int()).String()}
	case t.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < t.NumField(); i++ {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, toNode(v.Field(i)))
		}
		return n
	case t.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if t.Elem().Kind() != reflect.Struct {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, toNode(v.Index(i)))
		}
		return n
	case t.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.String()}, toNode(v.MapIndex(k)))
		}
		return n
	default:
		var n yaml.Node
		_ = n.Encode(v.Interface())
		return &n
	}
}

// commandEnv are DEFLECTD_ variables that are not configuration keys but read by commands: the
// config file's path, and secrets a command takes from the environment rather than a flag (a
// flag shows in ps and shell history).
var commandEnv = map[string]bool{
	"CONFIG":        true, // --config
	"CALL_PASSWORD": true, // deflectd call --auth-user
	"API_TOKEN":     true, // deflectd notify --gateway
}
