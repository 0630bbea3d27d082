package lookup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// staticList is an immutable snapshot of the allow/deny list; the Chain swaps whole snapshots.
type staticList struct {
	status map[string]Status // E.164 → Yes (allow) or No (deny)
	since  time.Time         // when this snapshot's content was written (file mtime or load time)
}

func (l *staticList) get(e164 string) (Answer, bool) {
	if l == nil {
		return Answer{}, false
	}
	s, ok := l.status[e164]
	if !ok {
		return Answer{}, false
	}
	return Answer{Status: s, Source: SourceStatic, Since: l.since}, true
}

// add records one entry; on conflict deny wins (offering a caller who cannot be reached costs
// more than not offering one who could).
func (l *staticList) add(e164 string, s Status) {
	if l.status[e164] == No {
		return
	}
	l.status[e164] = s
}

// buildStatic merges the config lists and the file content (may be nil).
func buildStatic(allow, deny []string, file io.Reader, region string, since time.Time) (*staticList, error) {
	l := &staticList{status: map[string]Status{}, since: since}
	var errs []error
	for _, src := range []struct {
		key    string
		list   []string
		status Status
	}{{"lookup.presence.allow", allow, Yes}, {"lookup.presence.deny", deny, No}} {
		key, status := src.key, src.status
		for i, raw := range src.list {
			e164, err := listNumber(raw, region)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", key, i, err))
				continue
			}
			l.add(e164, status)
		}
	}
	if file != nil {
		if err := parseListFile(l, file, region); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// parseListFile reads one number per line:
//
//	# comment
//	+966501234567 yes      (also: no, true, false, 1, 0, allow, deny; "," may separate)
//	+966501234568          (bare number: the current section, allow unless under deny:)
//	deny:                  (section header; also [deny], allow:, [allow])
//	+966501234569
func parseListFile(l *staticList, r io.Reader, region string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	section := Yes
	var errs []error
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		switch strings.ToLower(strings.Trim(text, "[]:")) {
		case "allow":
			section = Yes
			continue
		case "deny":
			section = No
			continue
		}
		fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == ';' })
		status := section
		raw := text
		if len(fields) >= 2 {
			if s, ok := parseYesNo(fields[len(fields)-1]); ok {
				status = s
				raw = strings.Join(fields[:len(fields)-1], " ")
			}
		}
		e164, err := listNumber(raw, region)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			continue
		}
		l.add(e164, status)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// listNumber accepts a number that parses to E.164, valid or not: the operator wrote it down
// on purpose (test ranges such as +447700900xxx are "invalid" to libphonenumber).
func listNumber(raw, region string) (string, error) {
	n, err := Normalize(raw, region)
	if err != nil && !(errors.Is(err, ErrInvalid) && n.E164 != "") {
		return "", err
	}
	return n.E164, nil
}

// parseYesNo reads the whatsapp column / list status: yes/no/true/false/1/0 (and allow/deny, y/n).
func parseYesNo(s string) (Status, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true", "1", "allow", "on":
		return Yes, true
	case "no", "n", "false", "0", "deny", "off":
		return No, true
	default:
		return Unknown, false
	}
}

// loadStatic builds the list from the config and, when set, the file; it returns the file's
// modification time and size for change detection.
func loadStatic(allow, deny []string, path, region string) (*staticList, time.Time, int64, error) {
	if path == "" {
		l, err := buildStatic(allow, deny, nil, region, time.Now())
		return l, time.Time{}, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("open lookup.presence.list_file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("stat lookup.presence.list_file: %w", err)
	}
	l, err := buildStatic(allow, deny, f, region, st.ModTime())
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("load presence lists (%s): %w", path, err)
	}
	return l, st.ModTime(), st.Size(), nil
}
