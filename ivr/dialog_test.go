package ivr

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func parseInvite(t *testing.T, transport, source, headers string) *sip.Request {
	t.Helper()
	msg := "INVITE sip:ivr@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/" + strings.ToUpper(transport) + " 127.0.0.1:5070;branch=z9hG4bK-dlg\r\n" +
		strings.ReplaceAll(strings.TrimSpace(headers), "\n", "\r\n") + "\r\n" +
		"Content-Length: 0\r\n\r\n"
	m, err := sip.NewParser().ParseSIP([]byte(msg))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	req := m.(*sip.Request)
	req.SetTransport(transport)
	req.SetSource(source)
	return req
}

const dlgHeaders = `From: "Caller" <sip:+966501234567@127.0.0.1>;tag=their-tag
To: <sip:ivr@127.0.0.1:5060>
Call-ID: dlg-1@test
CSeq: 7 INVITE
Contact: <sip:caller@127.0.0.1:5070;transport=udp>`

func TestNewDialogRefusesIncompleteInvites(t *testing.T) {
	tests := []struct {
		name    string
		headers string
		want    error // nil: any error
	}{
		{"no contact", strings.Replace(dlgHeaders, "\nContact: <sip:caller@127.0.0.1:5070;transport=udp>", "", 1), errNoContact},
		{"no cseq", strings.Replace(dlgHeaders, "CSeq: 7 INVITE\n", "", 1), errNoCSeq},
		{"no from tag", strings.Replace(dlgHeaders, ";tag=their-tag", "", 1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newDialog(parseInvite(t, "udp", "127.0.0.1:5070", tc.headers))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDialogRequests(t *testing.T) {
	contact := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "deflectd", Host: "127.0.0.1", Port: 5060}}
	tests := []struct {
		name      string
		transport string
		extra     string
		wantDest  string   // "" = left to sipgo (the Request-URI)
		wantRoute []string // Route values in order
	}{
		{name: "udp, no route set", transport: "udp"},
		{name: "tcp reuses the caller's connection", transport: "tcp", wantDest: "127.0.0.1:40000"},
		{
			name: "record-route becomes the route set, in order", transport: "tcp",
			extra:     "Record-Route: <sip:127.0.0.2:5060;lr>\nRecord-Route: <sip:127.0.0.3:5060;lr>",
			wantDest:  "127.0.0.2:5060",
			wantRoute: []string{"<sip:127.0.0.2:5060;lr>", "<sip:127.0.0.3:5060;lr>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := dlgHeaders
			if tc.extra != "" {
				h += "\n" + tc.extra
			}
			d, err := newDialog(parseInvite(t, tc.transport, "127.0.0.1:40000", h))
			if err != nil {
				t.Fatal(err)
			}
			if want := sip.DialogIDMake("dlg-1@test", d.localTag, "their-tag"); d.id != want {
				t.Errorf("dialog id %q, want %q", d.id, want)
			}
			for i, m := range []sip.RequestMethod{sip.BYE, sip.REFER} {
				req := d.newRequest(m, contact)
				if tag, _ := req.From().Params.Get("tag"); tag != d.localTag {
					t.Errorf("%s From tag %q, want ours %q", m, tag, d.localTag)
				}
				if tag, _ := req.To().Params.Get("tag"); tag != "their-tag" {
					t.Errorf("%s To tag %q", m, tag)
				}
				if req.To().Address.User != "+966501234567" || req.From().Address.User != "ivr" {
					t.Errorf("%s From/To not swapped: from %s to %s", m, req.From().Value(), req.To().Value())
				}
				if req.CallID().Value() != "dlg-1@test" {
					t.Errorf("%s Call-ID %q", m, req.CallID().Value())
				}
				if cs := req.CSeq(); cs.SeqNo != uint32(8+i) || cs.MethodName != m {
					t.Errorf("%s CSeq %d %s, want %d", m, cs.SeqNo, cs.MethodName, 8+i)
				}
				if req.Recipient.User != "caller" || req.Recipient.Port != 5070 {
					t.Errorf("%s Request-URI %s, want the INVITE's Contact", m, req.Recipient.String())
				}
				var routes []string
				for _, r := range req.GetHeaders("Route") {
					routes = append(routes, r.Value())
				}
				if strings.Join(routes, ",") != strings.Join(tc.wantRoute, ",") {
					t.Errorf("%s routes %v, want %v", m, routes, tc.wantRoute)
				}
				if req.Destination() != tc.wantDest && !(tc.wantDest == "" && req.Destination() == req.Recipient.HostPort()) {
					t.Errorf("%s destination %q, want %q", m, req.Destination(), tc.wantDest)
				}
				if req.Transport() != strings.ToUpper(tc.transport) && req.Transport() != tc.transport {
					t.Errorf("%s transport %q", m, req.Transport())
				}
				if req.Contact() == nil || req.Contact().Address.User != "deflectd" {
					t.Errorf("%s Contact %v", m, req.Contact())
				}
			}
		})
	}
}

func TestDialogTagsResponses(t *testing.T) {
	req := parseInvite(t, "udp", "127.0.0.1:5070", dlgHeaders)
	d, err := newDialog(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{180, 200, 486} {
		res := d.tag(sip.NewResponseFromRequest(req, code, "x", nil))
		if tag, _ := res.To().Params.Get("tag"); tag != d.localTag {
			t.Errorf("%d: To tag %q, want %q", code, tag, d.localTag)
		}
	}
	if _, ok := req.To().Params.Get("tag"); ok {
		t.Error("the INVITE itself was given a To tag")
	}
}
