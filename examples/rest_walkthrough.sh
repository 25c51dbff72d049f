#!/usr/bin/env bash
# The documented account flow with curl against a local `clara serve` on its embedded defaults
# (mail goes to the data directory's outbox/ as .eml files; this script reads the codes from there).
#   cargo run --release -- serve &      # in the repository root
#   examples/rest_walkthrough.sh
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8000/api/v1}
DATA=${CLARA_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/clara}
PK=$(cat "$DATA/public_api.key")
EMAIL=${EMAIL:-walkthrough-$RANDOM@example.com}
PASSWORD='correct horse battery staple'
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The newest mail to $EMAIL, its six-digit code.
code() {
  sleep 1
  grep -l "To: $EMAIL" "$DATA"/outbox/*.eml | xargs ls -t | head -n1 | xargs cat | tr -d '\r' | grep -m1 -E '^[0-9]{6}$'
}

echo "== register $EMAIL"
USER=$(curl -fsS -X POST "$BASE/auth/register" -H "Authorization: $PK" -H 'Content-Type: application/json' \
  -d "{\"first_name\":\"ada\",\"last_name\":\"lovelace\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}")
ID=$(echo "$USER" | json '["data"]["id"]')
echo "user $ID"

echo "== activate with the mailed code"
curl -fsS -X POST "$BASE/users/$EMAIL/activate" -H "Authorization: $PK" -H 'Content-Type: application/json' \
  -d "{\"code\":\"$(code)\"}" | json '["message"]'

echo "== log in (Basic)"
TOKEN=$(curl -fsS -X POST "$BASE/auth/session" -u "$EMAIL:$PASSWORD" | json '["data"]["token"]')

echo "== view the API key and use it"
KEY=$(curl -fsS "$BASE/users/$ID/api_key" -H "Authorization: Bearer $TOKEN" | json '["data"]["token"]')
curl -fsS "$BASE/users/$ID" -H "Authorization: Bearer $KEY" | json '["data"]["email"]'

echo "== enable 2FA with a TWO_FACTOR_AUTH code"
curl -fsS -X POST "$BASE/users/$EMAIL/otp/TWO_FACTOR_AUTH" -H "Authorization: $PK" | json '["message"]'
curl -fsS -X POST "$BASE/users/$ID/2fa" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"code\":\"$(code)\"}" | json '["message"]'

echo "== log in without a code: 401 with is_2fa_enabled"
curl -sS -X POST "$BASE/auth/session" -u "$EMAIL:$PASSWORD"; echo

echo "== log out"
curl -fsS -o /dev/null -w '%{http_code}\n' -X DELETE "$BASE/auth/session" -H "Authorization: Bearer $TOKEN"
