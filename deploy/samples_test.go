package deploy

import (
	"encoding/xml"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestPBXSamplesKeepTheCallersPlace checks that the Asterisk and FreeSWITCH samples hold the
// parts that keep a declined caller in the queue at their place: the API call, the saved
// position re-queue, the pre-dial handler for the headers, the REFER return. (The PBXs cannot run
// here; their syntax is written from their documentation and source, cited in the files.)
func TestPBXSamplesKeepTheCallersPlace(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ast := read("asterisk/extensions.conf")
	queues := read("asterisk/queues.conf")
	fs := read("freeswitch/deflect.xml")
	tests := []struct {
		name, text, pattern string
	}{
		{"asterisk: the API call", ast, `CURL\(\$\{DEFLECTD_API\}/deflections,number=`},
		{"asterisk: the result read", ast, `JSON_DECODE\(RES,result\)\}" = "deflected"`},
		{"asterisk: position saved on exit", ast, `Set\(DEFLECT_POS=\$\{QUEUEPOSITION\}\)`},
		{"asterisk: re-queue at the position (10th argument)", ast, `Queue\(billing,t,,,[^,]*,,,,,\$\{DEFLECT_POS\}\)`},
		{"asterisk: pre-dial handler", ast, `Dial\(PJSIP/deflect@deflectd,30,gb\(deflect-headers\^s\^1\)\)`},
		{"asterisk: headers in the handler", ast, `\[deflect-headers\]\nexten => s,1,Set\(PJSIP_HEADER\(add,X-Queue\)`},
		{"asterisk: X-Language only when chosen", ast, `ExecIf\(\$\["\$\{CALLER_LANGUAGE\}" != ""\]\?Set\(PJSIP_HEADER\(add,X-Language\)`},
		{"asterisk: a complete X-Return-To", ast, `X-Return-To\)=sip:billing-return@\$\{ASTERISK_HOST\}`},
		{"asterisk: REFER lands in the return context", ast, `__TRANSFER_CONTEXT=deflect-return`},
		{"asterisk: the exit digit", queues, `(?m)^context=deflect-exit$`},
		{"freeswitch: the API call", fs, `curl" data="\$\{deflectd_api\}/deflections `},
		{"freeswitch: re-entry score", fs, `cc_base_score=\$\{deflect_waited\}`},
		{"freeswitch: no hang-up after the bridge", fs, `hangup_after_bridge=false`},
		{"freeswitch: the REFER return", fs, `expression="\^billing-return\$"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !regexp.MustCompile(tt.pattern).MatchString(tt.text) {
				t.Errorf("sample lacks %s", tt.pattern)
			}
		})
	}
	for _, bad := range []string{"CHANNEL(language)", "from_domain", "hangup_after_bridge=true", "cc_queue_wait", "default_language}", "change-me"} {
		if strings.Contains(ast, bad) || strings.Contains(fs, bad) {
			t.Errorf("a sample still uses %q", bad)
		}
	}
	var x struct{}
	if err := xml.Unmarshal([]byte(fs), &x); err != nil {
		t.Errorf("freeswitch/deflect.xml is not XML: %v", err)
	}
}
