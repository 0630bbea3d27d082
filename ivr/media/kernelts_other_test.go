//go:build !linux

package media

import (
	"net"
	"time"
)

func enableKernelTS(*net.UDPConn) {}

func kernelTS([]byte) (time.Time, bool) { return time.Time{}, false }
