package netserve

import (
	"bufio"
	"net"
	"testing"
)

func TestServeAndShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var g Group
	served := make(chan error, 1)
	go func() {
		served <- g.Serve(l, func(c net.Conn) {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				c.Write([]byte("echo " + line))
			}
		})
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi\n"))
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "echo hi\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	g.Shutdown()
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	g.CloseConns()
	g.Wait()
	// A Serve after Shutdown closes its listener and returns at once.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := g.Serve(l2, func(net.Conn) { t.Error("handled after Shutdown") }); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", l2.Addr().String()); err == nil {
		t.Fatal("listener left open")
	}
}

func TestCounted(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := Count(a)
	go func() {
		buf := make([]byte, 3)
		b.Read(buf)
		b.Write([]byte("hello"))
	}()
	c.Write([]byte("abc"))
	buf := make([]byte, 5)
	n, _ := c.Read(buf)
	if in, out := c.Octets(); in != int64(n) || n != 5 || out != 3 {
		t.Fatalf("in %d out %d (read %d)", in, out, n)
	}
}
