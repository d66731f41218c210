#!/usr/bin/env bash
# fake-token.sh SUB AUD SCOPE LIFETIME_S: an unsigned JWT-shaped token (client-side tools never verify).
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"%s","aud":"%s","scope":"%s","iat":%d,"exp":%d,"iss":"https://issuer.example"}' \
  "$1" "$2" "$3" "$now" $((now + $4)) | b64url)
printf '%s.%s.c2lnbmF0dXJl' "$header" "$payload"
