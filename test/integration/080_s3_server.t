#!/usr/bin/env bash
# Self-test of the S3 harness (test/lib/s3.sh): Swift with s3api starts,
# answers SigV4-signed requests the way S3 does (errors included), and is
# stopped whatever way a test ends; the fault proxy forwards byte for byte,
# injects the faults it is told to, reproducibly, and counts. Needs no
# PostgreSQL.

. "$(dirname "$0")/../lib/s3.sh"

s3_available || t_skip_all "OpenStack Swift is not installed (scripts/install-deps.sh)"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# code XML: the <Code> of an S3 error document.
code() { sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' <<<"$1" | head -n 1; }
# b64md5 FILE: Content-MD5 of a file.
b64md5() {
    "$S3_PYTHON" -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.md5(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

# ---------------------------------------------------------------- server

t0=$(now)
t_ok "s3_start starts Swift with s3api" s3_start || t_bail "cannot start the S3 server: $T_ERR"
t1=$(now)
t_note "s3_start: $(secs "$t0" "$t1") s"

port=${S3_ENDPOINT##*:}
t_like "$S3_ENDPOINT" '^http://127\.0\.0\.1:[0-9]+$' "S3_ENDPOINT is a local URL"
t_is "$S3_REGION $S3_ACCESS_KEY $S3_SECRET_KEY" "us-east-1 test:tester testing" "region and credentials"
t_is "${AWS_ACCESS_KEY_ID:-unset} ${AWS_SECRET_ACCESS_KEY:-unset}" "unset unset" "AWS_* variables are left to the tests"
t_like "$S3_TMP" "^$T_TMP/s3\." "the server lives under T_TMP"
t_ok "all four servers run" s3_running
t_is "$(ps -o user= -p "$(cat "$S3_TMP/run/proxy.pid")" | tr -d ' ')" "$(id -un)" \
    "they run as the current user"
t_is "$(for s in proxy account container object; do ps -o pgid= -p "$(cat "$S3_TMP/run/$s.pid")"; done |
    tr -d ' ' | sort -u | wc -l)" 4 "each in a process group of its own"
t_ok "each listens on 127.0.0.1 only" bash -c '
    for p in $(cat "$1"); do
        [ "$(ss -Hltn "sport = :$p" | awk "{print \$4}")" = "127.0.0.1:$p" ] || exit 1
    done' - "$S3_TMP/run/ports"
t_is "$(grep -h '^swift_dir' "$S3_TMP"/etc/*-server.conf | sort -u)" "swift_dir = $S3_TMP/etc" \
    "rings and swift.conf come from S3_TMP/etc, not /etc/swift"
t_exit 1 "a second s3_start is refused" s3_start
t_like "$T_ERR" 'already running' "  ... with a reason"

# ---------------------------------------------------------------- signed requests

bucket=coffer-test
t_ok "s3_mb makes a bucket" s3_mb $bucket
t_ok "ListBuckets" s3_curl GET /
t_like "$T_OUT" "<Name>$bucket</Name>" "  ... lists it"
t_exit 1 "making it again" s3_mb $bucket
t_like "$T_ERR" '^HTTP 409 BucketAlreadyOwnedByYou' "  ... is 409 BucketAlreadyOwnedByYou (AWS us-east-1: 200)"

# A file with an odd size and every byte value.
file="$T_TMP/blob"
head -c 3000017 /dev/urandom >"$file"
size=$(stat -c %s "$file")

# Plain curl first: the harness adds nothing curl cannot do alone.
url="http://test%3Atester:testing@127.0.0.1:$port/$bucket/plain/blob"
t_ok "curl --aws-sigv4 PUTs a file" curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$file" "$url"
t_ok "curl --aws-sigv4 GETs it back" curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o "$T_TMP/blob.curl" "$url"
t_ok "  ... byte for byte" cmp "$file" "$T_TMP/blob.curl"
t_is "$(find "$S3_TMP/srv/d1/objects" -name '*.data' | wc -l)" 1 "  ... stored on the device under S3_TMP/srv"
# Swift places an object by the MD5 of prefix/account/container/object+suffix,
# the hash path settings of swift.conf: these are the harness's own.
h=$(printf '%s' "coffer-test-prefix/AUTH_test/$bucket/plain/blobcoffer-test-suffix" | md5sum)
t_is "$(find "$S3_TMP/srv/d1/objects" -type d -name "${h%% *}" | wc -l)" 1 \
    "  ... where the harness's swift.conf (not /etc/swift's) puts it"

t_ok "s3_put (signed with the body's SHA-256)" s3_put $bucket 'dir/tenant_../../etc/ü b+c' "$file"
t_ok "s3_get" s3_get $bucket 'dir/tenant_../../etc/ü b+c' "$T_TMP/blob.back"
t_ok "  ... round-trips the file byte for byte, under an awkward key" cmp "$file" "$T_TMP/blob.back"
t_is "$(s3_ls $bucket dir/)" 'dir/tenant_../../etc/ü b+c' "  ... which is listed as it was given"
t_is "$(s3_get $bucket 'dir/tenant_../../etc/ü b+c' | cksum)" "$(cksum <"$file")" "s3_get to stdout"
t_exit 1 "s3_put of a missing file fails" s3_put $bucket x "$T_TMP/no-such-file"

sha=$(sha256sum <<<"not the body")
t_exit 1 "a body that does not match its x-amz-content-sha256" \
    s3_curl -s "${sha%% *}" PUT /$bucket/bad-sha -T "$file"
t_is "$S3_STATUS $(code "$T_OUT")" "400 BadDigest" "  ... is 400 BadDigest (AWS: XAmzContentSHA256Mismatch)"
t_exit 1 "  ... and is not stored" s3_get $bucket bad-sha
t_is "$S3_STATUS $(code "$T_OUT")" "404 NoSuchKey" "  ... (404 NoSuchKey)"

t_exit 1 "an aws-chunked (streaming SigV4) upload" s3_curl -s STREAMING-AWS4-HMAC-SHA256-PAYLOAD \
    PUT /$bucket/chunked -T "$T_TMP/blob" -H 'Content-Encoding: aws-chunked'
t_is "$S3_STATUS $(code "$T_OUT")" "501 NotImplemented" "  ... is not supported: 501 NotImplemented"

t_exit 1 "a wrong secret key" s3_curl -u test:tester:wrong GET /$bucket
t_is "$S3_STATUS $(code "$T_OUT")" "403 SignatureDoesNotMatch" "  ... is 403 SignatureDoesNotMatch"
t_exit 1 "an unknown access key" s3_curl -u test:nobody:testing GET /$bucket
t_is "$S3_STATUS $(code "$T_OUT")" "403 SignatureDoesNotMatch" "  ... is 403 SignatureDoesNotMatch too (AWS: InvalidAccessKeyId)"
t_exit 1 "a signature for another region" s3_curl -r eu-west-1 GET /$bucket
t_is "$S3_STATUS $(code "$T_OUT")" "400 AuthorizationHeaderMalformed" "  ... is 400 AuthorizationHeaderMalformed"
t_like "$T_OUT" "<Region>us-east-1</Region>" "  ... naming the right region"
t_ok "no x-amz-content-sha256 header" curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" -o "$T_TMP/resp" \
    -w '%{http_code}' "http://test%3Atester:testing@127.0.0.1:$port/$bucket"
t_is "$T_OUT $(code "$(cat "$T_TMP/resp")")" "400 InvalidRequest" "  ... is 400 InvalidRequest"
t_ok "an unsigned request" curl -sS -o "$T_TMP/resp" -w '%{http_code}' "http://127.0.0.1:$port/$bucket"
t_is "$T_OUT" 412 "  ... is no S3 request at all for Swift: 412 (AWS: 403 AccessDenied)"

t_ok "virtual-hosted style ($bucket.localhost)" curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --resolve "$bucket.localhost:$port:127.0.0.1" \
    -o "$T_TMP/blob.vhost" "http://test%3Atester:testing@$bucket.localhost:$port/plain/blob"
t_ok "  ... gets the same object" cmp "$file" "$T_TMP/blob.vhost"

# ---------------------------------------------------------------- ranges

t_ok "ranged GET bytes=1000-1999" s3_curl -o "$T_TMP/range" GET /$bucket/plain/blob \
    -H 'Range: bytes=1000-1999'
t_is "$S3_STATUS" 206 "  ... is 206 Partial Content"
t_is "$(cksum <"$T_TMP/range")" "$(tail -c +1001 "$file" | head -c 1000 | cksum)" "  ... with those bytes"
t_ok "ranged GET of the last 17 bytes (bytes=-17)" s3_curl -o "$T_TMP/range" GET /$bucket/plain/blob \
    -H 'Range: bytes=-17'
t_is "$(cksum <"$T_TMP/range")" "$(tail -c 17 "$file" | cksum)" "  ... right bytes"
t_exit 1 "a range past the end" s3_curl GET /$bucket/plain/blob -H "Range: bytes=$size-"
t_is "$S3_STATUS $(code "$T_OUT")" "416 InvalidRange" "  ... is 416 InvalidRange"

# ---------------------------------------------------------------- listings

printf 'small\n' >"$T_TMP/small"
for i in 1 2 3 4 5; do
    s3_put $bucket "list/k$i" "$T_TMP/small" || t_fail "put list/k$i" "$(cat "$T_TMP/small")"
done
t_ok "ListObjectsV2 max-keys=2" s3_curl GET "/$bucket?list-type=2&max-keys=2&prefix=list%2F"
t_is "$(grep -o '<Key>[^<]*</Key>' <<<"$T_OUT" | tr -d '\n')" "<Key>list/k1</Key><Key>list/k2</Key>" \
    "  ... gives the first two keys"
t_like "$T_OUT" "<IsTruncated>true</IsTruncated>" "  ... says there is more"
token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' <<<"$T_OUT")
t_isnt "$token" "" "  ... and gives a continuation token"
pages=1 keys=$(grep -o '<Key>[^<]*</Key>' <<<"$T_OUT")
while [ -n "$token" ] && [ $pages -lt 10 ]; do
    s3_curl GET "/$bucket?continuation-token=$(_s3_pct "$token" '')&list-type=2&max-keys=2&prefix=list%2F" \
        >"$T_TMP/page" || break
    pages=$((pages + 1))
    keys+=$'\n'$(grep -o '<Key>[^<]*</Key>' "$T_TMP/page")
    token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$T_TMP/page")
done
t_is "$pages" 3 "following the tokens takes three pages"
t_is "$(sed 's:</*Key>::g' <<<"$keys" | tr '\n' ' ')" "list/k1 list/k2 list/k3 list/k4 list/k5 " \
    "  ... and gives all five keys once, in order"
t_is "$(s3_ls $bucket list/ 2 | tr '\n' ' ')" "list/k1 list/k2 list/k3 list/k4 list/k5 " \
    "s3_ls with pages of two does the same"
t_is "$(s3_ls $bucket | wc -l)" 7 "s3_ls of the whole bucket"
t_is "$(s3_ls $bucket nothing-here)" "" "s3_ls of an empty prefix prints nothing"

# ---------------------------------------------------------------- deletes

t_ok "s3_rm" s3_rm $bucket list/k5
t_exit 1 "  ... the object is gone" s3_get $bucket list/k5
t_is "$S3_STATUS $(code "$T_OUT")" "404 NoSuchKey" "  ... 404 NoSuchKey"
t_ok "s3_rm of a missing key succeeds, as on S3" s3_rm $bucket list/k5
t_is "$S3_STATUS" 204 "  ... 204 No Content"

cat >"$T_TMP/delete.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Delete><Quiet>false</Quiet><Object><Key>list/k1</Key></Object><Object><Key>list/k2</Key></Object><Object><Key>list/none</Key></Object></Delete>
EOF
t_ok "multi-object delete (POST ?delete)" s3_curl POST "/$bucket?delete=" \
    -H "Content-MD5: $(b64md5 "$T_TMP/delete.xml")" -H 'Content-Type: application/xml' \
    --data-binary @"$T_TMP/delete.xml"
t_is "$(grep -o '<Deleted><Key>[^<]*</Key>' <<<"$T_OUT" | sed 's:.*<Key>\(.*\)</Key>:\1:' | sort | tr '\n' ' ')" \
    "list/k1 list/k2 list/none " "  ... reports the three keys deleted"
t_is "$(s3_ls $bucket list/ | tr '\n' ' ')" "list/k3 list/k4 " "  ... and they are gone"

# ---------------------------------------------------------------- multipart

part1="$T_TMP/part1" part2="$T_TMP/part2"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$part1"
head -c 1234 /dev/urandom >"$part2"
# mpu KEY PART...: upload the files as the parts of one object; the
# output and status are those of CompleteMultipartUpload.
mpu() {
    local key=$1 id n=0 etag xml='<CompleteMultipartUpload>' p
    shift
    s3_curl -o "$T_TMP/mpu.xml" POST "/$bucket/$key?uploads=" || return 1
    id=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$T_TMP/mpu.xml")
    [ -n "$id" ] || return 1
    for p in "$@"; do
        n=$((n + 1))
        s3_curl PUT "/$bucket/$key?partNumber=$n&uploadId=$(_s3_pct "$id" '')" -T "$p" || return 1
        etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' <<<"$S3_HEADERS")
        [ -n "$etag" ] || return 1
        xml+="<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
    done
    xml+='</CompleteMultipartUpload>'
    s3_curl POST "/$bucket/$key?uploadId=$(_s3_pct "$id" '')" --data-binary "$xml"
}
t_ok "a multipart upload of a 5 MiB and a small part" mpu mp/ok "$part1" "$part2"
t_like "$T_OUT" '<CompleteMultipartUploadResult' "  ... completes"
s3_get $bucket mp/ok "$T_TMP/mp"
t_ok "  ... the object is both parts" cmp <(cat "$part1" "$part2") "$T_TMP/mp"
t_exit 1 "a multipart upload whose first part is under 5 MiB" mpu mp/small "$part2" "$part2"
t_is "$S3_STATUS $(code "$T_OUT")" "400 EntityTooSmall" "  ... is 400 EntityTooSmall, as on AWS"

# ---------------------------------------------------------------- fault proxy

t_ok "s3_proxy_start rate=1 faults=503" s3_proxy_start rate=1 faults=503
proxy=$S3_PROXY_ENDPOINT
t_like "$proxy" '^http://127\.0\.0\.1:[0-9]+$' "  ... exports S3_PROXY_ENDPOINT"
t_isnt "${proxy##*:}" "$port" "  ... on a port of its own"
codes=''
for i in 1 2 3 4 5; do
    s3_curl -e "$proxy" -o /dev/null GET /$bucket/plain/blob >/dev/null 2>&1
    codes+="$S3_STATUS "
done
t_is "$codes" "503 503 503 503 503 " "at rate 1.0 every GET gets 503"
t_exit 1 "  ... and a PUT too" s3_curl -e "$proxy" PUT /$bucket/via-proxy/put -T "$file"
t_is "$S3_STATUS $(code "$T_OUT")" "503 SlowDown" "  ... with an S3 SlowDown error"
t_exit 1 "  ... which was not forwarded" s3_get $bucket via-proxy/put
t_is "$(s3_proxy_stat req_body_bytes.PUT)" 0 "  ... answered before curl sent the body (Expect: 100-continue)"
t_exit 1 "  ... and an HTTP/1.0 PUT, which sends its body at once" \
    s3_curl -e "$proxy" PUT /$bucket/via-proxy/put -T "$file" -0
t_is "$S3_STATUS" 503 "  ... gets 503 too"
t_is "$(s3_proxy_stat req_body_bytes.PUT)" "$size" "  ... whose body is counted as sent"
t_is "$(s3_proxy_stat requests) $(s3_proxy_stat faults.503) $(s3_proxy_stat status.503)" "7 7 7" \
    "the counters: 7 requests, 7 faults, 7 answers 503"

t_ok "s3_proxy_set rate=0" s3_proxy_set rate=0
t_ok "at rate 0 a PUT passes (Host kept: the signature covers it)" \
    s3_curl -e "$proxy" PUT /$bucket/via-proxy/put -T "$file"
t_ok "  ... and a GET" s3_curl -e "$proxy" -o "$T_TMP/blob.proxy" GET /$bucket/via-proxy/put
t_ok "  ... byte for byte" cmp "$file" "$T_TMP/blob.proxy"
t_ok "  ... so does a ranged GET" s3_curl -e "$proxy" -o "$T_TMP/range" GET /$bucket/via-proxy/put \
    -H 'Range: bytes=10-19'
t_is "$S3_STATUS $(cksum <"$T_TMP/range")" "206 $(tail -c +11 "$file" | head -c 10 | cksum)" "  ... 206, right bytes"
t_ok "  ... and a HEAD" s3_curl -e "$proxy" HEAD /$bucket/via-proxy/put
t_like "$T_OUT" "Content-Length: $size" "  ... whose length is the object's"
t_is "$(s3_proxy_stat requests) $(s3_proxy_stat faults)" "11 7" "the counters: 11 requests, still 7 faults"
t_is "$(s3_proxy_stat req_body_bytes.PUT)" $((2 * size)) "  ... request bodies by method"
t_is "$(s3_proxy_stat resp_body_bytes.GET)" $((size + 10)) "  ... response bodies by method"
t_like "$(s3_proxy_stats)" $'(^|\n)status\\.200=3(\n|$)' "s3_proxy_stats prints KEY=VALUE lines"
t_exit 1 "an error answer passes too" s3_curl -e "$proxy" GET /$bucket/missing
t_is "$S3_STATUS $(code "$T_OUT")" "404 NoSuchKey" "  ... as it was"
t_ok "s3_proxy_stats --reset" s3_proxy_stats --reset
t_like "$T_OUT" 'requests=12' "  ... prints the counters"
t_is "$(s3_proxy_stats)" "" "  ... then zeroes them"

# Two requests over one connection: keep-alive works.
t_ok "one curl, two GETs" curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o /dev/null -o /dev/null \
    "http://test%3Atester:testing@${proxy#http://}/$bucket/list/k3" \
    "http://test%3Atester:testing@${proxy#http://}/$bucket/list/k4"
t_is "$(s3_proxy_stat connections) $(s3_proxy_stat requests)" "1 2" "  ... over one kept-alive connection"

for f in 500:InternalError 429:SlowDown; do
    s3_proxy_set rate=1 faults=${f%%:*}
    s3_curl -e "$proxy" GET /$bucket/list/k3 >"$T_TMP/resp" 2>/dev/null
    t_is "$S3_STATUS $(code "$(cat "$T_TMP/resp")")" "${f%%:*} ${f#*:}" "fault ${f%%:*}: ${f#*:}"
done

s3_proxy_set faults=reset
s3_proxy_stats --reset >/dev/null
t_exit 2 "fault reset: the client's GET fails" s3_curl -e "$proxy" -o "$T_TMP/cut" GET /$bucket/plain/blob
t_like "$T_ERR" 'reset|Recv failure' "  ... on a connection reset"
t_ok "  ... halfway through the body" test "$(s3_proxy_stat resp_body_bytes.GET)" -eq $((size / 2))
s3_proxy_set faults=reset_req
t_exit 2 "fault reset_req: the client's PUT fails" s3_curl -e "$proxy" PUT /$bucket/via-proxy/cut -T "$file"
t_like "$T_ERR" 'reset|Send failure|Recv failure' "  ... on a connection reset"
t_exit 1 "  ... and nothing is stored" s3_get $bucket via-proxy/cut
s3_proxy_set faults=delay delay=10
t0=$(now)
S3_CURL_TIMEOUT=1 t_exit 2 "fault delay: a client with a 1 s timeout gives up" s3_curl -e "$proxy" GET /$bucket/list/k3
t_like "$T_ERR" 'timed out' "  ... on its timeout"
t_ok "  ... after its second, not the proxy's ten" awk -v s="$(secs "$t0" "$(now)")" 'BEGIN { exit !(s >= 1 && s < 8) }'

t_ok "limit=2: two faults, then none" s3_proxy_set faults=500 limit=2
codes=''
for i in 1 2 3 4; do
    s3_curl -e "$proxy" GET /$bucket/list/k3 >/dev/null 2>&1
    codes+="$S3_STATUS "
done
t_is "$codes" "500 500 200 200 " "  ... 500 500 200 200"

t_ok "methods=PUT: only PUTs get faults" s3_proxy_set limit=0 methods=PUT faults=503
s3_curl -e "$proxy" GET /$bucket/list/k3 >/dev/null 2>&1
codes="$S3_STATUS "
s3_curl -e "$proxy" PUT /$bucket/list/k3 -T "$T_TMP/small" >/dev/null 2>&1
codes+="$S3_STATUS"
t_is "$codes" "200 503" "  ... GET 200, PUT 503"
t_ok "match=REGEX: only matching targets" s3_proxy_set methods= 'match=k4$'
s3_curl -e "$proxy" GET /$bucket/list/k3 >/dev/null 2>&1
codes="$S3_STATUS "
s3_curl -e "$proxy" GET /$bucket/list/k4 >/dev/null 2>&1
codes+="$S3_STATUS"
t_is "$codes" "200 503" "  ... k3 200, k4 503"

# The same seed gives the same faults.
run() {
    local i out=''
    s3_proxy_set match= rate=0.5 faults=500:1,503:1 seed=$1
    for i in $(seq 16); do
        s3_curl -e "$proxy" GET /$bucket/list/k3 >/dev/null 2>&1
        out+="$S3_STATUS "
    done
    printf '%s\n' "$out"
}
a=$(run 42) b=$(run 42) c=$(run 7)
t_is "$b" "$a" "seed=42 twice: the same sequence of answers"
t_like "$a" '200' "  ... with some requests passing"
t_like "$a" '50[03]' "  ... and some failing"
t_isnt "$c" "$a" "seed=7 gives another"

t_exit 1 "a bad setting is refused" s3_proxy_set rate=0 faults=bogus
t_like "$T_ERR" "unknown fault 'bogus'" "  ... with a reason"
t_like "$(curl -sS "http://127.0.0.1:$_S3_PROXY_CONTROL/config")" 'rate=0.5' "  ... and nothing of it applied"
t_exit 1 "rate above 1 is refused" s3_proxy_set rate=1.5

pid=$(cat "$S3_TMP/run/fault-proxy.pid")
t_ok "s3_proxy_stop" s3_proxy_stop
t_ok "  ... the proxy is gone" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.Z' /proc/$pid/status"
t_is "${S3_PROXY_ENDPOINT:-}" "" "  ... and S3_PROXY_ENDPOINT unset"
t_ok "the proxy can start again, from the command line's --options" s3_proxy_start --rate=1 --faults=429
s3_curl -e "$S3_PROXY_ENDPOINT" GET /$bucket/list/k3 >/dev/null 2>&1
t_is "$S3_STATUS" 429 "  ... with those settings"

# ---------------------------------------------------------------- stop

tmp=$S3_TMP
pids=$(cat "$S3_TMP"/run/*.pid)
t0=$(now)
t_ok "s3_stop" s3_stop
t_note "s3_stop: $(secs "$t0" "$(now)") s"
# gone PID...: none of them is alive (zombies are dead enough).
gone() {
    local p
    for p in "$@"; do
        kill -0 "$p" 2>/dev/null && ! grep -q '^State:.Z' "/proc/$p/status" 2>/dev/null && return 1
    done
    return 0
}
t_ok "  ... every server, the proxy and the watchdog are gone" gone $pids
t_ok "  ... the directory is removed" test ! -e "$tmp"
t_is "${S3_ENDPOINT:-}${S3_TMP:-}${S3_PROXY_ENDPOINT:-}" "" "  ... and the variables unset"
t_ok "s3_stop again is harmless" s3_stop

# ---------------------------------------------------------------- always stopped

# A child test that starts a server and a proxy, reports them, then ends as
# told. Five of them run at once (which also shows that concurrent tests get
# servers of their own).
child="$T_TMP/child.t"
cat >"$child" <<EOF
. "$REPO_ROOT/test/lib/s3.sh"
s3_start || exit 9
s3_proxy_start || exit 9
echo "\$S3_TMP \$(cat "\$S3_TMP"/run/*.pid | tr '\n' ' ')" >"\$1.tmp" && mv "\$1.tmp" "\$1"
case "\$2" in
error) exit 1 ;;
sleep) sleep 60 ;;
esac
EOF

# stopped DIR PID...: within 15 s all are dead and DIR is removed.
stopped() {
    local dir=$1 i
    shift
    for ((i = 0; i < 150; i++)); do
        gone "$@" && [ ! -e "$dir" ] && return 0
        sleep 0.1
    done
    return 1
}

declare -A cpid
for how in error INT TERM HUP KILL; do
    mode=sleep
    [ $how = error ] && mode=error
    setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' bash "$child" "$T_TMP/$how.info" $mode \
        >"$T_TMP/$how.log" 2>&1 &
    cpid[$how]=$!
done
for how in error INT TERM HUP KILL; do
    for _ in $(seq 600); do
        [ -s "$T_TMP/$how.info" ] && break
        _s3_alive "${cpid[$how]}" || break
        sleep 0.1
    done
    read -r cdir cpids <"$T_TMP/$how.info" 2>/dev/null
    [ -n "${cdir:-}" ] || t_diag "$(cat "$T_TMP/$how.log")"
    if [ $how = error ]; then
        wait "${cpid[$how]}"
        t_is "$?" 1 "a test that fails exits 1"
    else
        t_ok "SIG$how test: its servers and proxy were running" kill -0 ${cpids:-0}
        kill -s $how -- "-${cpid[$how]}"
        wait "${cpid[$how]}" 2>/dev/null
        rc=$?
        case $how in
        INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; KILL) want=137 ;;
        esac
        t_is "$rc" "$want" "  ... the test exits $want"
    fi
    # After SIGKILL no trap runs: the watchdog notices within a second or two.
    t_ok "  ... and its servers and proxy are stopped, the directory removed" \
        stopped "${cdir:-/nonexistent}" ${cpids:-0}
    kill -KILL -- "-${cpid[$how]}" 2>/dev/null
    unset cdir cpids
done

t_done
