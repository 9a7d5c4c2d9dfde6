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
	"net/http"
	"os"
)

var helloBody = []byte("Hello world!\r\n")

func hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(helloBody)
}

func serveHTTP(args []string) {
	ln := listenServing("serve-http", args)
	srv := &http.Server{Handler: http.HandlerFunc(hello)}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "grove-bench-go serve-http:", err)
		os.Exit(1)
	}
}
