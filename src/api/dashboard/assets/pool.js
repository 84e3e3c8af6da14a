// rxpool dashboard: pool views (placeholder until they are written).
"use strict";
