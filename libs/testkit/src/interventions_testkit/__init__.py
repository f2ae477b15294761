"""Test rig for Interventions: real infrastructure fixtures, processes, vendor stand-ins."""
