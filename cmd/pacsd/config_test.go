package main

import (
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pacsd.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFile: the file fills what neither the command line nor the environment set, in
// that order of precedence, and a wrong line stops with the file's name and line number.
func TestConfigFile(t *testing.T) {
	newFS := func() (*flag.FlagSet, *string, *string, *string, *int) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return fs, fs.String("aet", "PACSD", ""), fs.String("organization", "", ""), fs.String("http-addr", ":8080", ""), fs.Int("max-associations", 64, "")
	}
	conf := writeConfig(t, `# the county's settings
aet = COUNTY
organization = "  某县人民医院 "

http-addr=:9090
max-associations = 12
`)
	t.Setenv("PACSD_HTTP_ADDR", ":7070")
	fs, aet, org, addr, maxA := newFS()
	if err := parseFlags(fs, []string{"--config", conf, "--max-associations", "3"}); err != nil {
		t.Fatal(err)
	}
	if *aet != "COUNTY" || *org != "  某县人民医院 " || *addr != ":7070" || *maxA != 3 {
		t.Errorf("aet %q organization %q http-addr %q max-associations %d; want COUNTY, the quoted name, :7070 (env wins), 3 (flag wins)",
			*aet, *org, *addr, *maxA)
	}

	t.Setenv("PACSD_CONFIG", conf)
	fs, aet, _, _, _ = newFS()
	if err := parseFlags(fs, nil); err != nil || *aet != "COUNTY" {
		t.Errorf("PACSD_CONFIG: aet %q, err %v", *aet, err)
	}
	t.Setenv("PACSD_CONFIG", "")

	for _, c := range []struct{ text, want string }{
		{"aet = A\nhttp-adr = :1\n", `pacsd.conf:2: "http-adr" is not a setting`},
		{"just words\n", "pacsd.conf:1: want name = value"},
		{"max-associations = many\n", `max-associations = "many"`},
		{"aet = A\naet = B\n", `pacsd.conf:2: "aet" is set twice`},
		{"organization = \"unterminated\n", "pacsd.conf:1: organization: bad quoted value"},
		{"config = /etc/other\n", "cannot name another"},
	} {
		fs, _, _, _, _ := newFS()
		err := parseFlags(fs, []string{"--config", writeConfig(t, c.text)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to say %q", c.text, err, c.want)
		}
	}
	fs, _, _, _, _ = newFS()
	if err := parseFlags(fs, []string{"--config", filepath.Join(t.TempDir(), "missing.conf")}); err == nil {
		t.Error("a missing configuration file is not an error")
	}
}

// TestConfigFileServe: the real binary takes its AE title and called-AE policy from the file.
func TestConfigFileServe(t *testing.T) {
	needTool(t, "echoscu")
	conf := writeConfig(t, "aet = COUNTYPACS\nstrict-called-ae = true\n")
	n := startPacsd(t, t.TempDir(), "--config", conf)
	if out, err := exec.Command("echoscu", "-aec", "COUNTYPACS", "127.0.0.1", n.dicomPort).CombinedOutput(); err != nil {
		t.Errorf("echo to the AE title of the file: %v\n%s", err, out)
	}
	if err := exec.Command("echoscu", "-aec", "PACSD", "127.0.0.1", n.dicomPort).Run(); err == nil {
		t.Error("echo to the default AE title accepted: the file's strict-called-ae was not applied")
	}
}
