package seal

import (
	"context"
	"net"
	"strconv"
	"syscall"
)

type peerKey struct{}

// withPeer records the kernel's view of who is on the other end of an
// admin socket connection (SO_PEERCRED), for the audit log.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, "uid "+strconv.Itoa(int(cred.Uid))+", pid "+strconv.Itoa(int(cred.Pid)))
}

func peerOf(ctx context.Context) string {
	if s, ok := ctx.Value(peerKey{}).(string); ok {
		return s
	}
	return "peer unknown"
}

func umask(m int) int { return syscall.Umask(m) }
