package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// startOrthanc runs Orthanc with a configuration of our own (the package's /etc/orthanc is
// never read), everything in dir: its default SQLite index and folder storage, no plugins,
// UTF-8 as the default character set, and TCP_NODELAY=1 for its DCMTK network layer.
func startOrthanc(dir, port string) (*server, error) {
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	dp, _ := strconv.Atoi(port)
	hpn, _ := strconv.Atoi(hp)
	cfg := map[string]any{
		"Name":                  "pacsd-bench",
		"StorageDirectory":      filepath.Join(dir, "storage"),
		"IndexDirectory":        filepath.Join(dir, "index"),
		"HttpPort":              hpn,
		"DicomPort":             dp,
		"DicomAet":              "BENCH",
		"DicomCheckCalledAet":   false,
		"DicomAlwaysAllowStore": true,
		"DicomAlwaysAllowEcho":  true,
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"SaveJobs":              false,
		"StorageCompression":    false,
		"DefaultEncoding":       "Utf8",
		"TcpNoDelay":            true,
		"Plugins":               []string{},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(orthancBin, conf)
	cmd.Env = nodelay()
	// Orthanc's own log (its start-up warnings are noise here), beside the run's folder.
	lf, err := os.Create(filepath.Join(filepath.Dir(dir), "orthanc.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf // the child keeps its own descriptor; lf is closed when the bench exits
	return &server{cmd: cmd, probe: "http://127.0.0.1:" + hp + "/system", cpu: true}, nil
}
