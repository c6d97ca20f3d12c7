from kindreg.cli import main

raise SystemExit(main())
