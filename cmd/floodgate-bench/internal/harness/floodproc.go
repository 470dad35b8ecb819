package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// A real attacker's CPU is not the host's. In one process, the flood's clients (hundreds of
// closed-loop workers retrying as fast as refusals come back, or an open-loop flood) share
// the Go scheduler with the backend and the people's clients, whose goroutines then wait
// behind the flood's for a core: people's latency measured that way includes the
// generator's own queue. With FloodProcess the flood runs in a process of its own (the
// bench binary started again with FloodWorkerFlag), on the same cores — the machine is
// still shared, but each process is scheduled by the kernel, not behind the other's
// goroutines. Both arms of a cell get the same.

// FloodWorkerFlag is the bench binary's flag that makes it a flood process: it reads a
// FloodSpec from stdin, sends the flood, and writes its samples (gob) to stdout.
const FloodWorkerFlag = "-flood-worker"

// FloodSpec is what a flood process is told: the scenario (it builds the same schedule
// from its seed), where to send, its bounds, and the run's time zero.
type FloodSpec struct {
	Scenario          Scenario      `json:"scenario"`
	Targets           []string      `json:"targets"`
	MaxInFlight       int           `json:"max_in_flight"`
	MaxClosedRequests int64         `json:"max_closed_requests"`
	AttackTimeout     time.Duration `json:"attack_timeout_ns"`
	Start             time.Time     `json:"start"`
}

// FloodProcess is a running flood process.
type FloodProcess struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *os.File
}

// StartFloodProcess starts bin as a flood process for spec; logPath receives its stderr.
// A niceness other than 0 starts it under `nice -n niceness` (every thread of it).
func StartFloodProcess(bin string, spec FloodSpec, logPath string, niceness int) (*FloodProcess, error) {
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := floodCommand(bin, niceness)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting the flood process %s: %w", bin, err)
	}
	return &FloodProcess{cmd: cmd, out: out, stderr: logf}, nil
}

// floodCommand is the flood process's command: bin as a flood worker, under `nice -n
// niceness` (every thread it starts inherits it) unless niceness is 0.
func floodCommand(bin string, niceness int) *exec.Cmd {
	if niceness != 0 {
		return exec.Command("nice", "-n", strconv.Itoa(niceness), bin, FloodWorkerFlag)
	}
	return exec.Command(bin, FloodWorkerFlag)
}

// PID is the flood process's id.
func (p *FloodProcess) PID() int { return p.cmd.Process.Pid }

// Wait reads the flood's samples and waits for the process to end.
func (p *FloodProcess) Wait() ([]Sample, error) {
	defer p.stderr.Close()
	var samples []Sample
	derr := gob.NewDecoder(bufio.NewReader(p.out)).Decode(&samples)
	_, _ = io.Copy(io.Discard, p.out)
	werr := p.cmd.Wait()
	if derr != nil || werr != nil {
		return nil, fmt.Errorf("flood process: %w (log %s)", errors.Join(derr, werr), p.stderr.Name())
	}
	return samples, nil
}

// Kill stops the flood process (when the run failed).
func (p *FloodProcess) Kill() { _ = p.cmd.Process.Kill() }

// ServeFlood is the flood process: it reads a FloodSpec from in, sends the flood of its
// scenario from the spec's time zero, and writes the samples to out.
func ServeFlood(ctx context.Context, in io.Reader, out io.Writer) error {
	var spec FloodSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("flood spec: %w", err)
	}
	sched, err := spec.Scenario.Build()
	if err != nil {
		return err
	}
	cfg := DefaultRunConfig(spec.Targets[0])
	cfg.Targets, cfg.Part, cfg.Start = spec.Targets, FloodOnly, spec.Start
	cfg.MaxInFlight, cfg.MaxClosedRequests, cfg.AttackTimeout = spec.MaxInFlight, spec.MaxClosedRequests, spec.AttackTimeout
	res, err := Run(ctx, spec.Scenario, sched, cfg)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	if err := gob.NewEncoder(w).Encode(res.Samples); err != nil {
		return err
	}
	return w.Flush()
}
