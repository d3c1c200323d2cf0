package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"
)

// profiles samples the live heap every 50 ms while walhook runs, keeping its peak and,
// when asked, a heap profile taken at that peak ("where the memory goes" under a full
// backlog); and, when asked, records a CPU profile.
type profiles struct {
	cpu      *os.File
	memPath  string
	done     chan struct{}
	finished chan int64
}

// liveHeap is the heap marked live by the last GC.
const liveHeap = "/gc/heap/live:bytes"

func startProfiles(cpuPath, memPath string) (*profiles, error) {
	p := &profiles{memPath: memPath, done: make(chan struct{}), finished: make(chan int64, 1)}
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("create cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("start cpu profile: %w", err)
		}
		p.cpu = f
	}
	go p.sample()
	return p, nil
}

func (p *profiles) sample() {
	s := []metrics.Sample{{Name: liveHeap}}
	var peak, profiled uint64
	var prof bytes.Buffer
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak {
			peak = v
			// A profile costs a few milliseconds: take one each time the peak grows by 10%.
			if p.memPath != "" && v > profiled+profiled/10 {
				prof.Reset()
				pprof.Lookup("heap").WriteTo(&prof, 0)
				profiled = v
			}
		}
		select {
		case <-p.done:
			if p.memPath != "" && prof.Len() > 0 {
				if err := os.WriteFile(p.memPath, prof.Bytes(), 0o644); err != nil {
					fmt.Fprintf(os.Stderr, "walhook bench: write heap profile: %v\n", err)
				}
			}
			p.finished <- int64(peak)
			return
		case <-t.C:
		}
	}
}

// stop ends the profiles, writes them, and returns the peak live heap in bytes.
func (p *profiles) stop() int64 {
	close(p.done)
	if p.cpu != nil {
		pprof.StopCPUProfile()
		p.cpu.Close()
	}
	return <-p.finished
}

// profilePath is path for a run of workload: path itself when one workload runs, else
// path with "-<workload>" before its extension.
func profilePath(path, workload string, workloads int) string {
	if path == "" || workloads <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + workload + ext
}
