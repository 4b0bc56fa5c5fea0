from inspector.commands.main import main

raise SystemExit(main())
