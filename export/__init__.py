"""eggemo.export"""
