//! Any bytes, split anywhere: no panic, and every answer is a whole HTTP
//! response with a status this API sends (4xx for garbage).

mod common;

use common::{Mock, ctx, replies};
use mgmt_api::Connection;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: [&[u8]; 8] = [
    b"GET /api/vms HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
    b"POST /api/vms HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{\"config\": \"linux.toml\"}",
    b"POST /api/vms?file=a.toml HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Type: application/toml\r\nContent-Length: 5\r\n\r\na = 1",
    b"GET /api/vms/1/console?from=1 HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
    b"DELETE /api/vms/2 HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n",
    b"GET /api/vms/1/console/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: axvisor-console, bearer.s3cret-token\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    b"POST /api/vms/1/stop HTTP/1.0\r\nAuthorization: Bearer s3cret-token\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\n\r\n",
];

/// Feeds `bytes` in random pieces, with ticks in between; checks the answer.
fn feed(rng: &mut Rng, bytes: &[u8], garbage: bool) {
    let mock = Mock::new();
    let ctx = ctx(&mock);
    let mut conn = Connection::new(0);
    let mut rest = bytes;
    let mut now = 0;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(64));
        conn.receive(&rest[..n], &ctx, now);
        rest = &rest[n..];
        now += rng.below(100) as u64;
        conn.tick(&ctx, now);
    }
    let output = conn.output();
    if conn.is_websocket() {
        return;
    }
    let (answers, trailing) = replies(output);
    assert!(
        trailing.is_empty(),
        "only whole responses: {:?}",
        String::from_utf8_lossy(output)
    );
    for answer in answers {
        let known = [
            100, 200, 201, 400, 401, 404, 405, 408, 409, 411, 413, 415, 422, 431, 501,
        ];
        assert!(known.contains(&answer.status), "status {}", answer.status);
        if garbage {
            assert!(
                (400..500).contains(&answer.status),
                "garbage gets a 4xx, not {}",
                answer.status
            );
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = rng.below(600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        feed(&mut rng, &bytes, true);
        // Printable garbage with line ends gets further into the parser.
        let alphabet = b"GET /api/vms: \r\n\r\n0123456789%?=&HTTP/1.1\tContent-Length:Authorization: Bearer s3cret";
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        feed(&mut rng, &bytes, false);
    }
}

#[test]
fn mutated_requests_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let mut bytes = SEEDS[rng.below(SEEDS.len())].to_vec();
        for _ in 0..1 + rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, b"\r\n: %\x00\xff/"[rng.below(8)]),
                _ => bytes.truncate(at),
            }
        }
        let pipelined = [bytes.as_slice(), SEEDS[rng.below(SEEDS.len())]].concat();
        feed(&mut rng, &pipelined, false);
    }
}
