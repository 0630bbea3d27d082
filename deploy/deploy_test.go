// Package deploy holds deployment artefacts; its tests validate them statically (no Docker engine
// runs here) and check that Kamailio accepts the shipped configuration.
package deploy

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
)

func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, m)
	}
}

func dig(m any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[k]
		case int:
			s, ok := m.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			m = s[k]
		}
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) < 5 {
		t.Fatalf("expected deployment, service, configmap, secret, pdb; got %v", files)
	}
	kinds := map[string]map[string]any{}
	for _, f := range files {
		for _, d := range readYAMLDocs(t, f) {
			kind, _ := d["kind"].(string)
			if kind == "" || d["apiVersion"] == nil || dig(d, "metadata", "name") == nil {
				t.Errorf("%s: missing kind/apiVersion/metadata.name", f)
			}
			kinds[kind] = d
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"} {
		if kinds[k] == nil {
			t.Errorf("no %s manifest", k)
		}
	}
	// The ConfigMap's config must load with the real loader, secrets coming from the Secret.
	cfgText, _ := dig(kinds["ConfigMap"], "data", "deflectd.yaml").(string)
	p := filepath.Join(t.TempDir(), "deflectd.yaml")
	if err := os.WriteFile(p, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	var env, sample []string
	for k, v := range dig(kinds["Secret"], "stringData").(map[string]any) {
		sample = append(sample, k+"="+v.(string))
		// What an operator puts in place of the Secret's placeholders.
		env = append(env, k+"="+strings.ReplaceAll(v.(string), "replace-me", "s3cr3t-value-for-"+strings.ToLower(k)))
	}
	if _, err := configs.Load(p, sample); err == nil || !strings.Contains(err.Error(), "sample value") {
		t.Errorf("the Secret's placeholders load (%v): a deployment must not start on them", err)
	}
	cfg, err := configs.Load(p, env)
	if err != nil {
		t.Fatalf("configmap config does not load: %v", err)
	}
	// Ports in the Deployment and Service match the config.
	_, _, sipPort, _ := configs.ParseListen(cfg.SIP.Listen[0])
	httpPort := portOf(t, cfg.HTTP.Listen)
	c := dig(kinds["Deployment"], "spec", "template", "spec", "containers", 0)
	wantPorts := map[int]bool{sipPort: true, httpPort: true}
	for _, pp := range dig(c, "ports").([]any) {
		delete(wantPorts, dig(pp, "containerPort").(int))
	}
	if len(wantPorts) != 0 {
		t.Errorf("deployment does not expose %v", wantPorts)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if dig(c, probe, "httpGet", "path") == nil {
			t.Errorf("deployment has no %s", probe)
		}
	}
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Error("readiness must use /readyz (it turns 503 while draining)")
	}
	if dig(c, "lifecycle", "preStop") == nil {
		t.Error("deployment has no preStop hook")
	}
	grace := dig(kinds["Deployment"], "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if float64(grace) <= cfg.SIP.DrainTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d must exceed sip.drain_timeout %s", grace, cfg.SIP.DrainTimeout)
	}
	if dig(c, "args", 0) != "serve" {
		t.Errorf("container args should start with serve: %v", dig(c, "args"))
	}
}

func portOf(t *testing.T, hostport string) int {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	var p int
	for _, ch := range hostport[i+1:] {
		p = p*10 + int(ch-'0')
	}
	return p
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/deflectd", "USER 65532", "EXPOSE 5060/udp 5060/tcp 8080/tcp", `ENTRYPOINT ["/usr/local/bin/deflectd"]`} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat("../cmd/deflectd/main.go"); err != nil {
		t.Errorf("Dockerfile builds ./cmd/deflectd which does not exist: %v", err)
	}
	// The env it sets must be valid config.
	var env []string
	re := regexp.MustCompile(`(DEFLECTD_[A-Z_]+)=(\S+)`)
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		env = append(env, m[1]+"="+m[2])
	}
	cfg, err := configs.Load("", env)
	if err != nil {
		t.Fatalf("Dockerfile env is not a valid config: %v", err)
	}
	if !strings.Contains(s, "EXPOSE") || !strings.Contains(s, "20000-20999/udp") || cfg.RTP.PortMin != 20000 || cfg.RTP.PortMax != 20999 {
		t.Error("Dockerfile RTP range and EXPOSE disagree")
	}
}

func TestCompose(t *testing.T) {
	docs := readYAMLDocs(t, "compose/docker-compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose: %d documents", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	for _, s := range []string{"redis", "deflectd-a", "deflectd-b", "kamailio"} {
		if services[s] == nil {
			t.Errorf("compose lacks service %s", s)
		}
	}
	for _, s := range []string{"deflectd-a", "deflectd-b"} {
		envm, _ := dig(services[s], "environment").(map[string]any)
		var env []string
		for k, v := range envm {
			val, _ := v.(string)
			val = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(val, "$1")
			// Required variables (${X:?message}) get what an operator sets: an address, a token.
			val = regexp.MustCompile(`\$\{DEFLECTD_ADVERTISE_ADDR:\?[^}]*\}`).ReplaceAllString(val, "192.0.2.10")
			val = regexp.MustCompile(`\$\{[A-Z_]+:\?[^}]*\}`).ReplaceAllString(val, "0123456789abcdef-operator")
			env = append(env, k+"="+val)
		}
		cfg, err := configs.Load("", env)
		if err != nil {
			t.Errorf("%s environment is not a valid config: %v", s, err)
		} else if net.ParseIP(cfg.SIP.AdvertiseHost) == nil {
			t.Errorf("%s advertises %q: the PBX outside Docker needs an address", s, cfg.SIP.AdvertiseHost)
		}
	}
	if dig(services["redis"], "volumes") == nil || docs[0]["volumes"] == nil {
		t.Error("compose Redis runs --appendonly yes without a volume: the file dies with the container")
	}
	for _, f := range []string{"kamailio/kamailio.compose.cfg", "kamailio/dispatcher.compose.list"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("compose mounts %s: %v", f, err)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("systemd/deflectd.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = v
		}
	}
	if !strings.HasPrefix(keys["ExecStart"], "/usr/local/bin/deflectd serve") || keys["KillSignal"] != "SIGTERM" {
		t.Errorf("unit: ExecStart %q KillSignal %q", keys["ExecStart"], keys["KillSignal"])
	}
}

// TestKamailioConfigChecks runs `kamailio -c` on the shipped dispatcher configs.
func TestKamailioConfigChecks(t *testing.T) {
	bin := testkit.RequireTool(t, "kamailio")
	for _, name := range []string{"kamailio.cfg", "kamailio.compose.cfg"} {
		t.Run(name, func(t *testing.T) {
			cfg := KamailioConfig(t, filepath.Join("kamailio", name), "127.0.0.1", 0, "kamailio/dispatcher.list")
			out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput()
			if err != nil {
				t.Fatalf("kamailio -c: %v\n%s", err, out)
			}
		})
	}
}
