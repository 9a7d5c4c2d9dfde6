// The echo server of issue 4's rows (Go's net package, standard library only).
//
//	grove-bench-go serve <port> [lifetime_secs]
//
// Listens on 127.0.0.1:<port>, prints "listening <port>", and serves until
// its stdin is closed or the lifetime passes. One goroutine per connection
// reads into a 1 KiB buffer and writes back what it read, until EOF or an
// error; GOMAXPROCS=1 (set in main) keeps every goroutine on one thread.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// echoBuffer is the read buffer of every handler, in every subject.
const echoBuffer = 1024

func serve(args []string) {
	ln := listenServing("serve", args)
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "grove-bench-go serve: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go echo(conn)
	}
}

func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, echoBuffer)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// listenServing is the start of every server subcommand (serve, serve-http):
// raise the fd limit, start the watchdogs (the harness closing stdin ends the
// process; so does the lifetime, args[1] seconds, default 300), listen on
// 127.0.0.1:args[0] and print the "listening <port>" record.
func listenServing(what string, args []string) net.Listener {
	if len(args) < 1 {
		fmt.Printf("error usage: grove-bench-go %s <port> [lifetime_secs]\n", what)
		os.Exit(2)
	}
	lifetime := 300
	if len(args) > 1 {
		lifetime, _ = strconv.Atoi(args[1])
	}
	raiseNofile()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(time.Duration(lifetime)*time.Second, func() {
		fmt.Fprintf(os.Stderr, "grove-bench-go %s: lifetime of %d s is over\n", what, lifetime)
		os.Exit(3)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	return ln
}

// raiseNofile raises RLIMIT_NOFILE's soft limit to the hard limit (Go 1.19+
// does this at start-up too; done here for older toolchains).
func raiseNofile() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
