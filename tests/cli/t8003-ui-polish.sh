#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web UI's finish in a real browser (tests/web/ui_polish_test.js):
# colours by package / library / none across views, ETag revalidation,
# progress and Cancel of a long query, empty and error states, comparison
# and diff zoom in the URL, auto refresh of newly ingested data, a dropped
# speedscope file, keyboard focus order, accessible names, dark-theme
# contrast. Seeds a native "nat" service (frames from libc, libz, std::,
# boost::) and the "shop" service of t8001. Skipped (77) without chromium,
# node or the npm registry.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/ui_lib.sh"

ui_need_browser
server_start || finish

# native frames in both halves of the hour (the comparison shows both sides)
for ago in 3000 900; do
	ui_seed nat.cpu $ago <<'EOF'
main;std::sort<int*>;std::__introsort_loop<int*> 120
main;std::vector<int>::push_back;libc.so.6+0x9d1f0 80
main;boost::asio::io_context::run;[libssl.so.3] 60
main;compress;[libz.so.1] 90
main;[libc.so.6] 70
EOF
done
ui_seed_shop

ui_run_browser ui_polish_test.js "$SERVER_URL"
server_stop
finish
