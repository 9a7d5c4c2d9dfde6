// The HTTP server of issue 5's rows (Go's net/http, standard library only).
//
//	grove-bench-go serve-http <port> [lifetime_secs]
//
// Listens on 127.0.0.1:<port>, prints "listening <port>", and answers every
// request with "Hello world!\r\n" (keep-alive, net/http's defaults) until
// its stdin is closed or the lifetime passes. GOMAXPROCS=1 (set in main).
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

var helloBody = []byte("Hello world!\r\n")

func hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(helloBody)
}

func serveHTTP(args []string) {
	if len(args) < 1 {
		fmt.Println("error usage: grove-bench-go serve-http <port> [lifetime_secs]")
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
		fmt.Fprintf(os.Stderr, "grove-bench-go serve-http: lifetime of %d s is over\n", lifetime)
		os.Exit(3)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(hello)}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "grove-bench-go serve-http:", err)
		os.Exit(1)
	}
}
