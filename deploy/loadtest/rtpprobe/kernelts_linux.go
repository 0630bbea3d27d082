package main

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenRTP opens a loopback UDP socket whose datagrams carry kernel receive timestamps.
func listenRTP() (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen rtp: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw rtp socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		conn.Close()
		return nil, fmt.Errorf("enable SO_TIMESTAMPNS: %w", errors.Join(err, serr))
	}
	return conn, nil
}

// readRTP reads one datagram and its kernel arrival time (now, if the kernel gave none).
func readRTP(conn *net.UDPConn, buf, oob []byte) (int, time.Time, error) {
	n, oobn, _, _, err := conn.ReadMsgUDP(buf, oob)
	if err != nil {
		return 0, time.Time{}, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return n, time.Unix(ts.Unix()), nil
			}
		}
	}
	return n, time.Now(), nil
}
