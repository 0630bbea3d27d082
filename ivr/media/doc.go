// Package media is the IVR's audio path: SDP offer/answer (pion/sdp), a UDP port pool, RTP
// (pion/rtp) G.711 playback of prompts pre-encoded once per codec, paced by a few scheduler
// goroutines that serve many streams each, and RFC 4733 DTMF decoding. It knows nothing of SIP.
//
// Design choices, briefly:
//
//   - Prompts are decoded once (embedded defaults from deploy/scripts/gen-prompts.sh, overridden
//     by <prompts_dir>/<lang>/<name>.wav) and stored as PCMU and PCMA bytes; a playing stream only
//     slices 160-byte frames out of the shared clip. No transcoding per call.
//   - Pacing: one scheduler goroutine per core (EngineConfig.Schedulers) owns sending. Each keeps
//     a 4-slot time wheel and wakes every 5 ms for one slot, so every stream gets one packet per
//     20 ms and the sends spread over the period. No timer or goroutine per stream sends. A
//     scheduler that falls behind catches up; one stalled more than 100 ms skips ahead (RTP
//     timestamps still advance) instead of bursting stale audio.
//   - The packet path allocates nothing: the header is marshalled into the stream's own buffer
//     (rtp.Header.MarshalTo) and sent with one raw sendto. On Linux the sockets are made with
//     syscalls and kept out of the Go netpoller (socket_linux.go): a net.UDPConn made every send
//     wake the runtime's netpoll with a write event, a fifth of the CPU at 5000 calls.
//     BenchmarkScheduler at 5000 streams: ~1.9 µs of CPU per packet (mostly the kernel's
//     loopback path), ~1.3 KiB of heap per stream.
//   - Between prompts a stream sends G.711 silence rather than nothing: RTP flowing keeps NAT
//     bindings and SBC media timeouts alive and lets the peer's symmetric RTP latch on us.
//   - Receiving: one goroutine per scheduler reads all of its streams' sockets through an epoll
//     set (receiver_linux.go; a goroutine per stream elsewhere). A goroutine per stream parked
//     in ReadFrom cost a stack each (the runtime starts goroutines at the average stack size),
//     which the GC scans too (BenchmarkScheduler: 6.0 → 1.5 KiB per stream). Reads are raw recvfrom into
//     the receiver's buffer, so receiving allocates nothing either.
//   - Symmetric RTP: once the peer's RTP (its codec, telephone-event or CN payload type) arrives
//     from another address than its SDP said, sending follows it.
//   - RFC 4733: events are (SSRC, timestamp, event); a digit is reported on the FIRST packet of a
//     new event, whatever its duration (sip-tester's pcaps start at 0), so a key press interrupts
//     a prompt at once; the retransmitted end packets are absorbed.
//   - Batched sends (sendmmsg) are not used: each call has its own socket (its SDP port) and one
//     packet per 20 ms, while a batch leaves through one socket. BenchmarkSendBatch keeps the
//     figure of what it would save per packet.
package media
