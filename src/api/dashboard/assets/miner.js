// rxpool dashboard: miner views (placeholder until they are written).
"use strict";
