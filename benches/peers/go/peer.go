// Go peer of the grove benchmark harness (standard library only; builds offline).
//
//	go build -o ../../target/go/grove-bench-go peer.go echo.go    (GO111MODULE=off)
//	grove-bench-go <switch|spawn|mem|queue|sem|event> <n> [reps]
//	grove-bench-go serve <port> [lifetime_secs]                   (echo.go)
//	grove-bench-go serve-http <port> [lifetime_secs]              (http.go)
//
// Output follows the harness protocol, one record per line:
//
//	rep <metric> <ns_per_op>         one timed repetition (the first one, a warm-up, is not printed)
//	progress <tasks_spawned>         memory runs: how far spawning got
//	mem <n> <rss_before_kb> <rss_after_kb> <pte_before_kb> <pte_after_kb>
//	error <message>
//
// Everything runs with GOMAXPROCS=1 so that the Go scheduler, like grove's hub,
// uses a single OS thread for goroutines.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) >= 2 && os.Args[1] == "serve" {
		serve(os.Args[2:])
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "serve-http" {
		serveHTTP(os.Args[2:])
		return
	}
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: grove-bench-go <switch|spawn|mem|queue|sem|event> <n> [reps]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Println("error bad n:", os.Args[2])
		os.Exit(2)
	}
	reps := 5
	if len(os.Args) > 3 {
		reps, _ = strconv.Atoi(os.Args[3])
	}
	switch os.Args[1] {
	case "switch":
		repeat("switch", reps, func() float64 { return switchRoundTrip(n) })
	case "spawn":
		// "task": from inside a goroutine spawned for the purpose.
		repeat("spawn_task", reps, func() float64 {
			res := make(chan float64)
			go func() { res <- spawnJoin(n) }()
			return <-res
		})
		// "main": from the main goroutine itself.
		repeat("spawn_main", reps, func() float64 { return spawnJoin(n) })
	case "mem":
		memory(n)
	case "queue":
		// The table's cell: buffered channels of capacity 1 (a put never
		// waits, as with grove's unbounded Queue); then unbuffered ones.
		repeat("queue", reps, func() float64 { return queuePingPong(n, 1) })
		repeat("queue_unbuffered", reps, func() float64 { return queuePingPong(n, 0) })
	case "sem":
		repeat("sem", reps, func() float64 { return chanSemaphore(n) })
		repeat("sem_mutex", reps, func() float64 { return mutexLockUnlock(n) })
	case "event":
		repeat("event", reps, func() float64 { return eventPingPong(n) })
	default:
		fmt.Println("error unknown benchmark", os.Args[1])
		os.Exit(2)
	}
}

// repeat runs one warm-up and then reps timed repetitions of f.
func repeat(metric string, reps int, f func() float64) {
	f()
	for i := 0; i < reps; i++ {
		fmt.Printf("rep %s %.3f\n", metric, f())
	}
}

// switchRoundTrip: two goroutines each call runtime.Gosched() n times; one
// round trip = both ran once.
func switchRoundTrip(n int) float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for i := 0; i < 2; i++ {
		go func() {
			for j := 0; j < n; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// spawnJoin: start an empty goroutine and wait for it, n times.
func spawnJoin(n int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// queuePingPong: goroutine A sends to q1 and receives from q2, B receives
// from q1 and sends the item back on q2; channels of the given capacity. One
// round trip moves two items.
func queuePingPong(n, capacity int) float64 {
	q1 := make(chan int, capacity)
	q2 := make(chan int, capacity)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			q1 <- i
			<-q2
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < n; i++ {
			q2 <- <-q1
		}
		wg.Done()
	}()
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// chanSemaphore: an uncontended semaphore of one permit in Go's idiom, a
// chan struct{} of capacity 1: send = acquire, receive = release.
func chanSemaphore(n int) float64 {
	sem := make(chan struct{}, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		<-sem
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// mutexLockUnlock: an uncontended sync.Mutex, Lock + Unlock.
func mutexLockUnlock(n int) float64 {
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// eventPingPong: two goroutines signal each other through two chan struct{}
// of capacity 1 (a signal sent before the receiver waits is kept, as a set
// event's flag is): A signals e1 and waits on e2, B the mirror.
func eventPingPong(n int) float64 {
	e1 := make(chan struct{}, 1)
	e2 := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			e1 <- struct{}{}
			<-e2
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < n; i++ {
			<-e1
			e2 <- struct{}{}
		}
		wg.Done()
	}()
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// memory: n goroutines blocked on a channel receive.
func memory(n int) {
	// Warm the runtime up the way a program would be before it spawns.
	spawnJoin(100)
	rssBefore, pteBefore := status()
	every := n / 100
	if every < 1000 {
		every = 1000
	}
	var started sync.WaitGroup
	block := make(chan struct{})
	for i := 0; i < n; i++ {
		started.Add(1)
		go func() {
			started.Done()
			<-block
		}()
		if (i+1)%every == 0 {
			fmt.Printf("progress %d\n", i+1)
		}
	}
	started.Wait()
	for i := 0; i < 10; i++ {
		runtime.Gosched()
	}
	rssAfter, pteAfter := status()
	fmt.Printf("mem %d %d %d %d %d\n", n, rssBefore, rssAfter, pteBefore, pteAfter)
	runtime.KeepAlive(block)
	os.Exit(0)
}

// status reads VmRSS and VmPTE (kB) from /proc/self/status.
func status() (rss, pte int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmPTE:":
			pte = v
		}
	}
	return
}
