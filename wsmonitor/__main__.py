from wsmonitor.cli import main

raise SystemExit(main())
