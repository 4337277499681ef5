"""eggemo.host"""
