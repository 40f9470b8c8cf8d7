package benchkit

import (
	"os"
	"os/exec"
	"time"
)

// Proc is a server process a benchmark started (pacsd, Orthanc): its command, a channel
// closed once it has been reaped, and the file its output goes to.
type Proc struct {
	Cmd    *exec.Cmd
	Exited chan struct{}
	Log    string
}

// Stop ends the process: SIGINT first (pacsd shuts down cleanly), SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p == nil || p.Cmd == nil || p.Cmd.Process == nil {
		return
	}
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.Exited:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.Exited
	}
}

// LogTail is the end of the process's output (its last 3000 bytes), for an error message.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
