package ivr

import (
	"strings"
	"testing"

	"github.com/deflectd/deflectd/lookup"
	"github.com/emiago/sipgo/sip"
)

func TestReferContext(t *testing.T) {
	t.Parallel()
	ci := CallInfo{
		Caller:       lookup.Number{E164: "+966501234567", Valid: true},
		Queue:        "billing",
		WaitEstimate: 300,
		CustomerID:   "C-1001",
		Context:      map[string]string{"Plan": "gold plus", "Order": "A&B=1"},
	}
	tests := []struct {
		name    string
		target  string
		outcome Outcome
		ci      CallInfo
		want    string
	}{
		{
			name:    "declined with context, values escaped, context sorted",
			target:  "sip:billing-return@127.0.0.1:5070",
			outcome: Outcome{Result: ResultDeclined},
			ci:      ci,
			want: "<sip:billing-return@127.0.0.1:5070?X-Deflect-Result=declined&X-Deflect-Session=S1" +
				"&X-Queue=billing&X-Wait-Estimate=300&X-Customer-Id=C-1001" +
				"&X-Context-Order=A%26B%3D1&X-Context-Plan=gold%20plus>",
		},
		{
			name:    "reason escaped, unknown wait and empty fields left out",
			target:  "sip:q@127.0.0.1",
			outcome: Outcome{Result: ResultFailed, Reason: "not-on-whatsapp"},
			ci:      CallInfo{WaitEstimate: -1},
			want:    "<sip:q@127.0.0.1?X-Deflect-Result=failed%3Breason%3Dnot-on-whatsapp&X-Deflect-Session=S1>",
		},
		{
			name:    "a header already in the target wins",
			target:  "sip:q@127.0.0.1?X-Queue=vip",
			outcome: Outcome{Result: ResultTimeout},
			ci:      CallInfo{Queue: "billing", WaitEstimate: -1},
			want:    "<sip:q@127.0.0.1?X-Queue=vip&X-Deflect-Result=timeout&X-Deflect-Session=S1>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var to sip.Uri
			if err := parseTarget(tc.target, &to); err != nil {
				t.Fatal(err)
			}
			referContext(&to, tc.outcome, &tc.ci, "S1")
			h := sip.ReferToHeader{Address: to}
			if got := h.Value(); got != tc.want {
				t.Errorf("Refer-To\n got %s\nwant %s", got, tc.want)
			}
			if strings.Contains(h.Value(), "966501234567") {
				t.Errorf("the caller's number is in the Refer-To: %s", h.Value())
			}
		})
	}
}
